"""The `make toy-model` code path, end to end at a few steps per stage."""

import json

import torch
from diffusers import StableDiffusionPipeline

from recipes.toy import model as toymodel
from recipes.toy import train as toytrain


def test_train_all_tiny_produces_a_loadable_pipeline(tmp_path):
    sizes = toytrain.Sizes(n_images=64, clip_steps=2, vae_steps=2, decoder_steps=2, unet_steps=2,
                           clip_batch=8, vae_batch=4, unet_batch=4)
    log = toytrain.train_all(tmp_path, sizes)
    assert set(log["loss"]) == {"clip", "vae", "vae_decoder", "unet"}
    assert log["scaling_factor"] > 0
    saved = json.loads((tmp_path / "toy" / "train_log.json").read_text())
    assert saved["sizes"]["unet_steps"] == 2
    pipe = StableDiffusionPipeline.from_pretrained(tmp_path / "toy")
    assert pipe.scheduler.config.prediction_type == "v_prediction"
    image = pipe("a red circle", num_inference_steps=2,
                 generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (toymodel.IMAGE_SIZE, toymodel.IMAGE_SIZE)
    assert (tmp_path / "toy-clip" / "preprocessor_config.json").is_file()


def test_tokenizer_knows_caption_words_and_falls_back_to_bytes():
    tok = toymodel.build_tokenizer(["a large red circle on the left, white background"] * 20)
    assert tok.tokenize("large red circle") == ["large</w>", "red</w>", "circle</w>"]
    ids = tok("红色").input_ids
    assert tok.unk_token_id not in ids[1:-1] and len(ids) == 2 + 6  # 3 bytes per character
    assert tok.model_max_length == 77


def test_foreground_mask_finds_the_object():
    x = -torch.ones(1, 3, 8, 8)
    x[:, 0, 2:4, 2:4] = 1.0
    mask = toytrain.foreground(x)
    assert mask.sum() == 4 and mask[0, 0, 2, 2] == 1


def test_warmup_cosine_shape():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = toytrain.warmup_cosine(opt, steps=100, warmup_frac=0.1)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] < lrs[9] == max(lrs) and lrs[-1] < 0.01
