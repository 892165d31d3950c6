"""The toy Stable Diffusion: the same diffusers/transformers classes as SD 1.5, tiny sizes.

Everything here is architecture and file layout; training lives in
``recipes.toy.train``. The shipped weights sit in ``recipes/assets/`` as
standard ``save_pretrained`` folders, so ``StableDiffusionPipeline.from_pretrained``
loads them with no custom code.

Sizes (64×64 RGB images, 16×16×4 latents, 77-token prompts) were chosen so that
4 images × 25 steps run in about a second on a 2-core CPU and the whole model
trains from scratch in under 90 minutes there. The VAE downsamples 4× rather
than SD's 8×: at 8×8 latents a small shape covered about two latent pixels and
the UNet could not keep circles round (measured in the issue note).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import torch

ASSETS = Path(__file__).resolve().parents[1] / "assets"
TOY_DIR = ASSETS / "toy"  # the diffusers pipeline folder
TOY_CLIP_DIR = ASSETS / "toy-clip"  # the full CLIP model (text + vision towers)

IMAGE_SIZE = 64
MAX_LENGTH = 77  # as in SD 1.x, so token budgets behave the same
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
# CLIP's pre-tokenizer pattern: words, single digits, runs of punctuation.
_CLIP_SPLIT = (r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|"
               r"[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+")

# SD 1.x's noise schedule, kept so schedulers behave as they do on real models. The UNet
# predicts v (as SD 2.x does) rather than the noise: at high noise levels epsilon-prediction
# gives almost no gradient towards the prompt, and on a CPU budget that made the model
# learn background and size but not colour, shape or position.
SCHEDULE = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
            "beta_schedule": "scaled_linear", "prediction_type": "v_prediction"}

TEXT = {"hidden_size": 128, "intermediate_size": 512, "num_hidden_layers": 4,
        "num_attention_heads": 4, "max_position_embeddings": MAX_LENGTH}
VISION = {"image_size": IMAGE_SIZE, "patch_size": 8, "hidden_size": 128,
          "intermediate_size": 512, "num_hidden_layers": 4, "num_attention_heads": 4}
VAE = {"in_channels": 3, "out_channels": 3, "latent_channels": 4, "sample_size": IMAGE_SIZE,
       "down_block_types": ("DownEncoderBlock2D",) * 3,
       "up_block_types": ("UpDecoderBlock2D",) * 3,
       "block_out_channels": (16, 32, 64), "layers_per_block": 1, "norm_num_groups": 16,
       "mid_block_add_attention": False}
UNET = {"sample_size": IMAGE_SIZE // 4, "in_channels": 4, "out_channels": 4,
        "layers_per_block": 1, "block_out_channels": (32, 64, 128),
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        "cross_attention_dim": TEXT["hidden_size"],
        # diffusers' historical name: this is the number of heads per block (16-d heads).
        "attention_head_dim": (2, 4, 8),
        "norm_num_groups": 16}


def build_tokenizer(corpus: Iterable[str], vocab_size: int = 1024):
    """Train a CLIP-style byte-level BPE tokenizer on ``corpus`` and return a CLIPTokenizer.

    Like OpenAI's CLIP vocabulary it contains all 256 byte symbols with and
    without the ``</w>`` end-of-word mark, so any text (Chinese included) maps
    to known tokens, just expensively; words seen in the corpus become single
    tokens through learned merges.
    """
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import CLIPTokenizer

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    tok = Tokenizer(models.BPE(end_of_word_suffix="</w>", unk_token=EOS))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(),
                                           normalizers.Replace(Regex(r"\s+"), " "),
                                           normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_CLIP_SPLIT), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False)])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[BOS, EOS],
                                  initial_alphabet=alphabet, end_of_word_suffix="</w>",
                                  show_progress=False)
    tok.train_from_iterator(list(corpus), trainer)
    model = json.loads(tok.to_str())["model"]
    vocab: dict[str, int] = dict(model["vocab"])
    for symbol in sorted(alphabet) + [s + "</w>" for s in sorted(alphabet)]:
        vocab.setdefault(symbol, len(vocab))
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_LENGTH)


def clip_config(tokenizer):
    """Return the CLIPConfig for the toy CLIP (text + vision towers, 128-d projection)."""
    from transformers import CLIPConfig, CLIPTextConfig, CLIPVisionConfig

    text = CLIPTextConfig(vocab_size=len(tokenizer), projection_dim=128,
                          bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id,
                          pad_token_id=tokenizer.pad_token_id, **TEXT)
    vision = CLIPVisionConfig(projection_dim=128, **VISION)
    return CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(),
                      projection_dim=128)


def new_vae(seed: int = 0):
    """A freshly initialised AutoencoderKL (64×64×3 ↔ 16×16×4; SD downsamples 8×, see above)."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(**VAE)


def new_unet(seed: int = 0):
    """A freshly initialised UNet2DConditionModel conditioned on 128-d token states."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(**UNET)


def train_scheduler():
    """The DDPMScheduler used for training (SD 1.x betas, v-prediction)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(**SCHEDULE, clip_sample=False)


def inference_scheduler():
    """The scheduler shipped with the pipeline: DPM-Solver++ 2M on SD 1.x's noise schedule.

    SD 1.5 ships PNDM. On the toy model PNDM at guidance 7.5 and 25 steps fell apart
    (judge all-correct 38% against 72% for DPM-Solver++ on the same 64 prompts,
    both ~85% at guidance 2), so the toy ships the solver the diffusers docs recommend.
    ``clip_sample: False`` stays in the config, as in SD 1.5's file, so that
    ``DDIMScheduler.from_config(pipe.scheduler.config)`` does not clamp the latents
    to [-1, 1] (DDIM's default), which destroys every image.
    """
    from diffusers import DPMSolverMultistepScheduler

    return DPMSolverMultistepScheduler.from_config(
        {**SCHEDULE, "algorithm_type": "dpmsolver++", "solver_order": 2, "steps_offset": 1,
         "timestep_spacing": "leading", "set_alpha_to_one": False, "skip_prk_steps": True,
         "clip_sample": False})


def save_pipeline(path: str | Path, *, vae, text_encoder, tokenizer, unet, scheduler=None) -> Path:
    """Assemble a StableDiffusionPipeline from trained parts and save it as safetensors.

    The safety checker is None: it is a classifier for real photographs that
    would only waste time (and misfire) on coloured shapes; diffusers logs a
    warning about it, which the loader in ``recipes.pipelines.models`` explains.
    """
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   unet=unet, scheduler=scheduler or inference_scheduler(),
                                   safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    path = Path(path)
    pipe.save_pretrained(path, safe_serialization=True)
    return path


def encode(tokenizer, text_encoder, prompts: list[str]) -> torch.Tensor:
    """Token states exactly as ``StableDiffusionPipeline.encode_prompt`` computes them."""
    ids = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length,
                    truncation=True, return_tensors="pt").input_ids
    return text_encoder(ids.to(text_encoder.device))[0]


@torch.no_grad()
def encode_many(tokenizer, text_encoder, prompts: list[str], batch: int = 256) -> torch.Tensor:
    """``encode`` in batches, as float32 on the CPU (distillation targets)."""
    return torch.cat([encode(tokenizer, text_encoder, prompts[i:i + batch]).float().cpu()
                      for i in range(0, len(prompts), batch)])
