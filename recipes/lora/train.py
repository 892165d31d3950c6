"""Train a LoRA adapter on the toy UNet with peft + accelerate, the way diffusers' examples do.

``make toy-lora`` runs ``python -m recipes.lora.train`` for the two shipped
adapters: ``star`` (a shape the base model never saw) and ``ink`` (a style).
Only the low-rank matrices train (``unet.add_adapter(LoraConfig(...))``); the
result is saved with ``StableDiffusionPipeline.save_lora_weights`` as
``pytorch_lora_weights.safetensors`` plus a ``train_log.json`` with the loss
curve, so ``pipe.load_lora_weights(folder)`` reads it like any hub LoRA.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from recipes.lora.prompts import training_records
from recipes.toy import model as tm
from recipes.toy import train as tt

TARGET_MODULES = ("to_k", "to_q", "to_v", "to_out.0")


@dataclass
class LoraSettings:
    """One adapter's training recipe; the defaults are what ``make toy-lora`` ships."""

    concept: str = "star"
    rank: int = 8
    alpha: int = 8
    steps: int = 300
    batch: int = 16
    lr: float = 4e-3
    n_images: int = 1200
    prior_fraction: float = 0.5
    fg_weight: float = 4.0
    seed: int = 0
    target_modules: tuple[str, ...] = field(default=TARGET_MODULES)


def load_parts(model: str | Path = tm.ASSETS / "toy"):
    """Load the frozen parts of a toy pipeline folder: tokenizer, text encoder, VAE, UNet."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    model = Path(model)
    return (CLIPTokenizer.from_pretrained(model / "tokenizer"),
            CLIPTextModel.from_pretrained(model / "text_encoder").eval(),
            AutoencoderKL.from_pretrained(model / "vae").eval(),
            UNet2DConditionModel.from_pretrained(model / "unet"))


def add_lora(unet, settings: LoraSettings) -> list[torch.nn.Parameter]:
    """Freeze ``unet``, attach a peft LoRA adapter to its attention layers; return what trains."""
    from peft import LoraConfig

    unet.requires_grad_(False)
    torch.manual_seed(settings.seed)
    unet.add_adapter(LoraConfig(r=settings.rank, lora_alpha=settings.alpha,
                                init_lora_weights="gaussian",
                                target_modules=list(settings.target_modules)))
    return [p for p in unet.parameters() if p.requires_grad]


def train_lora(settings: LoraSettings, parts=None, accelerator=None, records=None,
               progress: bool = True) -> tuple:
    """Train one LoRA adapter on the UNet of ``parts`` (default: the shipped toy model).

    Data: ``settings.n_images`` renders from ``training_records`` (concept mixed
    with base world), encoded once by the frozen VAE. Loss: v-prediction MSE
    with min-SNR weighting and the object pixels weighted up, as in
    ``recipes.toy.train.train_unet``. Returns ``(unet_with_adapter, losses,
    seconds)``; pass ``records`` to train on your own captioned images.
    """
    from accelerate import Accelerator
    from diffusers.training_utils import compute_snr

    accelerator = accelerator or Accelerator()
    tokenizer, text_encoder, vae, unet = parts or load_parts()
    records = records if records is not None else training_records(
        settings.concept, settings.n_images, settings.seed, prior_fraction=settings.prior_fraction)
    pool = torch.from_numpy(np.stack([np.asarray(r.image, np.uint8) for r in records]))
    pool = pool.permute(0, 3, 1, 2).contiguous()
    captions = [r.caption for r in records]
    start = time.perf_counter()
    means, stds = tt.encode_pool(vae, pool, accelerator.device)
    masks = tt.latent_masks(pool, means.shape[-1]) if settings.fg_weight else None
    params = add_lora(unet, settings)
    unet.train()
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=1e-4)
    sched = tt.warmup_cosine(opt, settings.steps)
    unet, opt = accelerator.prepare(unet, opt)
    text_encoder = text_encoder.to(accelerator.device).requires_grad_(False)
    noise_sched = tm.train_scheduler()
    scale = vae.config.scaling_factor
    rng = random.Random(settings.seed)
    torch.manual_seed(settings.seed)
    dev = accelerator.device
    losses: list[float] = []
    bar = tqdm(range(settings.steps), desc=f"LoRA {settings.concept}",
               disable=not (progress and accelerator.is_main_process))
    for step in bar:
        idx = rng.sample(range(len(records)), min(settings.batch, len(records)))
        x0 = (means[idx] + stds[idx] * torch.randn_like(means[idx])).to(dev) * scale
        ids = tokenizer([captions[i] for i in idx], padding="max_length", truncation=True,
                        max_length=tokenizer.model_max_length, return_tensors="pt").input_ids
        with torch.no_grad():
            cond = text_encoder(ids.to(dev))[0]
        noise = torch.randn_like(x0)
        t = torch.randint(0, noise_sched.config.num_train_timesteps, (len(idx),), device=dev)
        pred = unet(noise_sched.add_noise(x0, noise, t), t, cond).sample
        snr = compute_snr(noise_sched, t)
        target = noise_sched.get_velocity(x0, noise, t)
        weight = torch.clamp(snr, max=5.0) / (snr + 1)
        err = F.mse_loss(pred, target, reduction="none")
        if masks is not None:
            w = 1.0 + settings.fg_weight * masks[idx].to(dev)
            per_sample = (err * w).sum(dim=(1, 2, 3)) / (w.sum(dim=(1, 2, 3)) * err.shape[1])
        else:
            per_sample = err.mean(dim=(1, 2, 3))
        tt._update((per_sample * weight).mean(), accelerator, opt, sched, losses, bar, step)
    unet = accelerator.unwrap_model(unet).eval()
    return unet, losses, time.perf_counter() - start


def lora_state_dict(unet) -> dict[str, torch.Tensor]:
    """The adapter's weights in diffusers' key format (what ``save_lora_weights`` expects)."""
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    return convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))


def save_adapter(unet, out: str | Path, settings: LoraSettings, losses: list[float],
                 seconds: float) -> Path:
    """Save the adapter as ``pytorch_lora_weights.safetensors`` plus ``train_log.json``."""
    from diffusers import StableDiffusionPipeline

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(out, unet_lora_layers=lora_state_dict(unet),
                                              safe_serialization=True)
    n_params = sum(v.numel() for v in lora_state_dict(unet).values())
    log = {"settings": {**asdict(settings), "target_modules": list(settings.target_modules)},
           "seconds": round(seconds, 1), "threads": torch.get_num_threads(),
           "lora_parameters": n_params, "loss": tt._thin(losses, 100)}
    (out / "train_log.json").write_text(json.dumps(log, indent=1))
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line for ``make toy-lora``: train and save one adapter per ``--concept``."""
    parser = argparse.ArgumentParser(description="Train toy LoRA adapters (star shape, ink style)")
    parser.add_argument("--concept", action="append", choices=("star", "ink"),
                        help="adapter to train (repeatable; default: star and ink)")
    parser.add_argument("--out", type=Path, default=tm.ASSETS,
                        help="folder that receives lora-<concept>/ (default: recipes/assets)")
    for name in ("rank", "alpha", "steps", "batch", "n_images"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    args = parser.parse_args(argv)
    for concept in args.concept or ["star", "ink"]:
        over = {k: getattr(args, k) for k in ("rank", "alpha", "steps", "batch", "n_images", "lr")
                if getattr(args, k) is not None}
        settings = LoraSettings(concept=concept, **over)
        unet, losses, seconds = train_lora(settings)
        path = save_adapter(unet, args.out / f"lora-{concept}", settings, losses, seconds)
        print(json.dumps({"adapter": str(path), "seconds": round(seconds, 1),
                          "final_loss": round(float(np.mean(losses[-50:])), 4)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
