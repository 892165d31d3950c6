"""The `make toy-model` code path, end to end at a few steps per stage."""

import json

import torch
from diffusers import StableDiffusionPipeline

from recipes.toy import model as toymodel
from recipes.toy import train as toytrain


def test_train_all_tiny_produces_a_loadable_pipeline(tmp_path):
    sizes = toytrain.Sizes(n_images=64, clip_steps=2, vae_steps=2, decoder_steps=2, unet_steps=2,
                           clip_batch=8, vae_batch=4, unet_batch=4)
    (tmp_path / "toy" / "vae").mkdir(parents=True)
    (tmp_path / "toy" / "vae" / "decoder_log.json").write_text("{}")  # from an earlier build
    log = toytrain.train_all(tmp_path, sizes)
    assert not (tmp_path / "toy" / "vae" / "decoder_log.json").exists()  # decoder step may run
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


def test_shipped_decoder_draws_the_whole_world():
    """The shipped VAE, tuned by recipes.toy.decoder, keeps ink, stars and the base world."""
    from diffusers import AutoencoderKL

    from recipes.toy import decoder

    vae = AutoencoderKL.from_pretrained(toymodel.ASSETS / "toy" / "vae").eval()
    got = decoder.round_trips(vae, n=24)
    assert got["ink"]["per_attribute"]["style"] >= 0.9  # the untuned decoder: 0.03
    assert got["ink"]["all_correct"] >= 0.7
    assert got["base"]["all_correct"] >= 0.95 and got["star"]["all_correct"] >= 0.9
    log = json.loads((toymodel.ASSETS / "toy" / "vae" / "decoder_log.json").read_text())
    assert log["round_trip_before"]["ink"]["per_attribute"]["style"] < 0.5


def test_decoder_step_tunes_only_the_decoder_and_refuses_to_run_twice(tmp_path, capsys):
    import shutil

    import pytest
    from diffusers import AutoencoderKL

    from recipes.toy import decoder

    shutil.copytree(toymodel.ASSETS / "toy" / "vae", tmp_path / "vae")
    (tmp_path / "vae" / "decoder_log.json").unlink()
    before = AutoencoderKL.from_pretrained(tmp_path / "vae").state_dict()
    sizes = decoder.DecoderSizes(steps=2, batch=4, n_base=8, n_ink=8, n_star=8)
    vae, losses, _ = decoder.finetune(AutoencoderKL.from_pretrained(tmp_path / "vae"), sizes)
    after = vae.state_dict()
    assert len(losses) == 2
    frozen = [k for k in before if k.startswith(("encoder.", "quant_conv"))]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    (tmp_path / "vae" / "decoder_log.json").write_text("{}")
    with pytest.raises(SystemExit, match="already fine-tuned"):
        decoder.main(["--model", str(tmp_path)])
