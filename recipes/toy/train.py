"""Train the toy Stable Diffusion from scratch: CLIP, then the VAE, then the UNet.

The VAE stage ends with a decoder-only fine-tune (encoder frozen), as SD's
improved VAE was made; it sharpens small shapes without moving the latent space.

``make toy-model`` runs ``python -m recipes.toy.train`` with the sizes that were
shipped; notebook 11 walks through the same three loops at small sizes. The
order follows SD: a frozen CLIP text tower conditions the UNet, which denoises
in the latent space of a frozen VAE. Every stage shows a progress bar and
writes its loss curve to ``train_log.json`` beside the weights.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from recipes.toy import captions as tc
from recipes.toy import model as tm


@dataclass
class Sizes:
    """How much to train; the defaults are what ``make toy-model`` ships."""

    n_images: int = 24000
    clip_steps: int = 1000
    vae_steps: int = 1800
    decoder_steps: int = 1200
    unet_steps: int = 5200
    unet_phase2_steps: int = 0  # a second, lower-LR pass over the same data (warm restart)
    clip_batch: int = 128
    vae_batch: int = 16
    unet_batch: int = 64
    seed: int = 0


UNET_PHASE2_LR = 2e-4


def to_tensor(images) -> torch.Tensor:
    """PIL images → float tensor in [-1, 1], shape (N, 3, H, W)."""
    arr = np.stack([np.asarray(im, dtype=np.uint8) for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def make_pool(n: int, seed: int) -> tuple[torch.Tensor, list]:
    """Render ``n`` base-world images (uint8 tensor) and their scenes, deterministically."""
    records = tc.make_dataset(n, seed=seed, size=tm.IMAGE_SIZE, lang="en")
    arr = np.stack([np.asarray(r.image, dtype=np.uint8) for r in records])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous(), [r.scene for r in records]


def _batch(pool: torch.Tensor, idx) -> torch.Tensor:
    return pool[idx].float().div(127.5).sub(1.0)


def _captions(scenes, idx, rng: random.Random, p_empty: float = 0.0) -> list[str]:
    return ["" if rng.random() < p_empty else tc.caption(scenes[i], "en", rng) for i in idx]


def warmup_cosine(opt, steps: int, warmup_frac: float = 0.05):
    """Linear warm-up then cosine decay to zero, as a LambdaLR (works for any step count)."""
    warm = max(1, int(steps * warmup_frac))

    def factor(i: int) -> float:
        if i < warm:
            return (i + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (i - warm) / max(1, steps - warm))))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _update(loss, accelerator, opt, sched, losses: list[float], bar, step: int,
            clip: float | None = None) -> float | None:
    """One optimiser step, then record the loss (shown on the bar every 25 steps).

    ``accelerator`` may be None (plain ``loss.backward()``); ``clip`` clips the
    gradient norm of the optimiser's parameters first (``float("inf")``: only
    measures it). Returns the gradient norm before clipping, None without ``clip``.
    """
    norm = None
    if accelerator is None:
        loss.backward()
    else:
        accelerator.backward(loss)
    if clip is not None:
        norm = float(torch.nn.utils.clip_grad_norm_(
            [p for g in opt.param_groups for p in g["params"]], clip))
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    losses.append(loss.item())
    if step % 25 == 0:
        bar.set_postfix(loss=f"{np.mean(losses[-25:]):.4f}")
    return norm


@contextmanager
def swapped_weights(params: list[torch.nn.Parameter], values: list[torch.Tensor] | None):
    """Run the block with ``params`` holding ``values`` (None: as they are), then restore."""
    if values is None:
        yield
        return
    kept = [q.detach().clone() for q in params]
    try:
        for q, v in zip(params, values, strict=True):
            q.data.copy_(v)
        yield
    finally:
        for q, v in zip(params, kept, strict=True):
            q.data.copy_(v)


@torch.no_grad()
def ema_update(ema: list[torch.Tensor] | None, params: list[torch.nn.Parameter], decay: float):
    """Move the moving average ``ema`` a step ``1 - decay`` towards ``params`` (None: no-op)."""
    if ema is not None:
        for e, q in zip(ema, params, strict=True):
            e.lerp_(q.detach(), 1.0 - decay)


def train_clip(pool, scenes, tokenizer, steps: int, batch: int, accelerator, seed: int = 0):
    """Contrastive training of the toy CLIP (text + vision towers) on captions ↔ renders."""
    from transformers import CLIPModel

    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = CLIPModel(tm.clip_config(tokenizer))
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.05)
    sched = warmup_cosine(opt, steps)
    model, opt = accelerator.prepare(model, opt)
    losses: list[float] = []
    bar = tqdm(range(steps), desc="CLIP", disable=not accelerator.is_main_process)
    for step in bar:
        idx = rng.sample(range(len(scenes)), batch)
        # Pad to the longest caption, not 77: CLIP pools at the first EOS, so the
        # result is the same and the step is ~5× cheaper.
        ids = tokenizer(_captions(scenes, idx, rng), padding="longest", truncation=True,
                        max_length=tm.MAX_LENGTH, return_tensors="pt").input_ids
        out = model(input_ids=ids.to(accelerator.device),
                    pixel_values=_batch(pool, idx).to(accelerator.device), return_loss=True)
        _update(out.loss, accelerator, opt, sched, losses, bar, step)
    return accelerator.unwrap_model(model).eval(), losses


def foreground(x: torch.Tensor) -> torch.Tensor:
    """Mask (N, 1, H, W) of pixels that differ from the image's corner (background) colour."""
    corner = x[:, :, :1, :1]
    return ((x - corner).abs().amax(dim=1, keepdim=True) > 0.1).float()


def train_vae(pool, steps: int, batch: int, accelerator, seed: int = 0, kl_weight: float = 1e-6,
              fg_weight: float = 9.0):
    """Train the AutoencoderKL: L1 + MSE reconstruction and a small KL term, like SD's VAE.

    Object pixels weigh ``1 + fg_weight`` times a background pixel (see ``foreground``).

    Returns the model and its losses; the latent scaling factor is set from
    the measured standard deviation of the latents (SD's 0.18215 came the same way).
    """
    torch.manual_seed(seed)
    rng = random.Random(seed)
    vae = tm.new_vae(seed)
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    sched = warmup_cosine(opt, steps)
    vae, opt = accelerator.prepare(vae, opt)
    losses: list[float] = []
    bar = tqdm(range(steps), desc="VAE", disable=not accelerator.is_main_process)
    for step in bar:
        x = _batch(pool, rng.sample(range(len(pool)), batch)).to(accelerator.device)
        posterior = accelerator.unwrap_model(vae).encode(x).latent_dist
        rec = accelerator.unwrap_model(vae).decode(posterior.sample()).sample
        # The object covers 3-10% of the image; weight its pixels up so colour and shape,
        # not just the flat background, drive the reconstruction loss.
        weight = 1.0 + fg_weight * foreground(x)
        err = (rec - x).abs() + (rec - x).pow(2)
        loss = (err * weight).mean() / weight.mean() + kl_weight * posterior.kl().mean()
        _update(loss, accelerator, opt, sched, losses, bar, step)
    vae = accelerator.unwrap_model(vae).eval()
    with torch.no_grad():
        x = _batch(pool, list(range(min(512, len(pool))))).to(accelerator.device)
        std = vae.encode(x).latent_dist.mean.std().item()
    vae.register_to_config(scaling_factor=round(1.0 / std, 5))
    return vae, losses


def finetune_decoder(vae, pool, steps: int, batch: int, accelerator, seed: int = 0,
                     fg_weight: float = 9.0, lr: float = 5e-4):
    """Train only the VAE decoder, with the encoder frozen, for sharper shapes.

    The latent space does not change, so a UNet trained on this VAE stays valid:
    this is how Stability AI's improved SD VAE (ft-MSE) was made. Latents are
    sampled from the posterior, so the decoder also learns to tolerate the
    small errors a UNet makes.
    """
    torch.manual_seed(seed)
    rng = random.Random(seed + 1)
    vae.requires_grad_(False)
    params = [*vae.decoder.parameters(), *vae.post_quant_conv.parameters()]
    for p in params:
        p.requires_grad_(True)
    vae.train()
    opt = torch.optim.AdamW(params, lr=lr)
    sched = warmup_cosine(opt, steps)
    losses: list[float] = []
    bar = tqdm(range(steps), desc="VAE decoder", disable=not accelerator.is_main_process)
    for step in bar:
        x = _batch(pool, rng.sample(range(len(pool)), batch)).to(accelerator.device)
        with torch.no_grad():
            z = vae.encode(x).latent_dist.sample()
        rec = vae.decode(z).sample
        weight = 1.0 + fg_weight * foreground(x)
        loss = (((rec - x).abs() + (rec - x).pow(2)) * weight).mean() / weight.mean()
        _update(loss, accelerator, opt, sched, losses, bar, step)
    vae.requires_grad_(False)
    return vae.eval(), losses


@torch.no_grad()
def latent_masks(pool: torch.Tensor, side: int, batch: int = 1024) -> torch.Tensor:
    """Object masks at latent resolution (N, 1, side, side), dilated by one latent cell.

    Used to weight the UNet loss towards the object: it covers 3-10% of the image,
    so with a plain mean the flat background dominates the loss and fine shape
    detail (a small circle against a small square) is learned last.
    """
    out = []
    for i in range(0, len(pool), batch):
        fg = foreground(_batch(pool, slice(i, i + batch)))
        cover = F.adaptive_max_pool2d(fg, side)
        out.append(F.max_pool2d(cover, 3, stride=1, padding=1))
    return torch.cat(out)


@torch.no_grad()
def encode_pool(vae, pool, device, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode every image once; UNet training then samples latents from these posteriors."""
    means, stds = [], []
    for i in tqdm(range(0, len(pool), batch), desc="encode", leave=False):
        dist = vae.encode(_batch(pool, slice(i, i + batch)).to(device)).latent_dist
        means.append(dist.mean.cpu())
        stds.append(dist.std.cpu())
    return torch.cat(means), torch.cat(stds)


def train_unet(latents, scenes, tokenizer, text_encoder, steps: int, batch: int, accelerator,
               scaling_factor: float, seed: int = 0, p_uncond: float = 0.1,
               offset_noise: float = 0.05, snr_gamma: float = 5.0, on_checkpoint=None,
               checkpoint_every: int = 1000, unet=None, lr: float = 1e-3,
               masks: torch.Tensor | None = None, fg_weight: float = 0.0):
    """Train the UNet (v-prediction), conditioned on frozen CLIP token states.

    Captions are dropped to "" with probability ``p_uncond`` so the same UNet
    also learns the unconditional prediction classifier-free guidance needs.
    Offset noise lets it make uniformly dark or bright backgrounds; min-SNR
    loss weighting (γ=5) speeds up convergence. Every ``checkpoint_every`` steps
    ``on_checkpoint(step, unet_with_ema_weights)`` is called, so a long run can be
    stopped early and still leave a usable model. Pass ``unet`` to continue
    training existing weights (the second, lower-``lr`` phase of ``train_all``).
    """
    from diffusers.training_utils import EMAModel, compute_snr

    torch.manual_seed(seed)
    rng = random.Random(seed)
    means, stds = latents
    unet = unet if unet is not None else tm.new_unet(seed)
    unet.train()
    ema = EMAModel(unet.parameters(), decay=0.999, use_ema_warmup=True, power=0.75)
    noise_sched = tm.train_scheduler()
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.01)
    lr_sched = warmup_cosine(opt, steps, 0.03)
    unet, opt = accelerator.prepare(unet, opt)
    text_encoder = text_encoder.to(accelerator.device).requires_grad_(False)
    losses: list[float] = []
    bar = tqdm(range(steps), desc="UNet", disable=not accelerator.is_main_process)
    dev = accelerator.device
    for step in bar:
        idx = rng.sample(range(len(scenes)), batch)
        x0 = (means[idx] + stds[idx] * torch.randn_like(means[idx])).to(dev) * scaling_factor
        ids = tokenizer(_captions(scenes, idx, rng, p_uncond), padding="max_length",
                        truncation=True, max_length=tm.MAX_LENGTH, return_tensors="pt").input_ids
        with torch.no_grad():
            cond = text_encoder(ids.to(dev))[0]
        noise = torch.randn_like(x0) + offset_noise * torch.randn(batch, x0.shape[1], 1, 1,
                                                                  device=dev)
        t = torch.randint(0, noise_sched.config.num_train_timesteps, (batch,), device=dev)
        pred = unet(noise_sched.add_noise(x0, noise, t), t, cond).sample
        snr = compute_snr(noise_sched, t)
        if noise_sched.config.prediction_type == "v_prediction":
            target = noise_sched.get_velocity(x0, noise, t)
            weight = torch.clamp(snr, max=snr_gamma) / (snr + 1)
        else:
            target = noise
            weight = torch.clamp(snr, max=snr_gamma) / snr
        err = F.mse_loss(pred, target, reduction="none")
        if masks is not None and fg_weight:
            w = 1.0 + fg_weight * masks[idx].to(dev)
            per_sample = (err * w).sum(dim=(1, 2, 3)) / (w.sum(dim=(1, 2, 3)) * err.shape[1])
        else:
            per_sample = err.mean(dim=(1, 2, 3))
        loss = (per_sample * weight).mean()
        _update(loss, accelerator, opt, lr_sched, losses, bar, step)
        ema.step(accelerator.unwrap_model(unet).parameters())
        if on_checkpoint and (step + 1) % checkpoint_every == 0 and step + 1 < steps:
            ema.store(accelerator.unwrap_model(unet).parameters())
            ema.copy_to(accelerator.unwrap_model(unet).parameters())
            on_checkpoint(step + 1, accelerator.unwrap_model(unet))
            ema.restore(accelerator.unwrap_model(unet).parameters())
    unet = accelerator.unwrap_model(unet)
    ema.copy_to(unet.parameters())
    return unet.eval(), losses


def train_all(out: Path, sizes: Sizes, accelerator=None) -> dict:
    """Run the three stages and save ``toy`` (pipeline) and ``toy-clip`` under ``out``."""
    from accelerate import Accelerator
    from transformers import CLIPImageProcessor, CLIPTextModel

    accelerator = accelerator or Accelerator()
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    pool, scenes = make_pool(sizes.n_images, sizes.seed)
    corpus = [tc.caption(s, "en", i) for i, s in enumerate(scenes[:4000])]
    tokenizer = tm.build_tokenizer(corpus)
    timings["data_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    clip, clip_losses = train_clip(pool, scenes, tokenizer, sizes.clip_steps, sizes.clip_batch,
                                   accelerator, sizes.seed)
    timings["clip_s"] = time.perf_counter() - t
    clip_dir = out / "toy-clip"
    clip.save_pretrained(clip_dir, safe_serialization=True)
    tokenizer.save_pretrained(clip_dir)
    CLIPImageProcessor(size={"shortest_edge": tm.IMAGE_SIZE},
                       crop_size={"height": tm.IMAGE_SIZE, "width": tm.IMAGE_SIZE},
                       image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(clip_dir)

    t = time.perf_counter()
    vae, vae_losses = train_vae(pool, sizes.vae_steps, sizes.vae_batch, accelerator, sizes.seed)
    timings["vae_s"] = time.perf_counter() - t
    t = time.perf_counter()
    vae, decoder_losses = finetune_decoder(vae, pool, sizes.decoder_steps, sizes.vae_batch,
                                           accelerator, sizes.seed)
    timings["decoder_s"] = time.perf_counter() - t

    t = time.perf_counter()
    # The text tower alone, as in SD (copied in memory: loading it from the full CLIP folder
    # would print a long "unexpected vision weights" report).
    text_encoder = CLIPTextModel(clip.config.text_config)
    text_encoder.load_state_dict(clip.text_model.state_dict())
    text_encoder.eval()
    latents = encode_pool(vae, pool, accelerator.device)

    def checkpoint(step: int, unet) -> None:
        tm.save_pipeline(out / "toy-checkpoint", vae=vae, text_encoder=text_encoder,
                         tokenizer=tokenizer, unet=unet)
        (out / "toy-checkpoint" / "STEP").write_text(str(step))

    unet, unet_losses = train_unet(latents, scenes, tokenizer, text_encoder, sizes.unet_steps,
                                   sizes.unet_batch, accelerator, vae.config.scaling_factor,
                                   sizes.seed, on_checkpoint=checkpoint)
    if sizes.unet_phase2_steps:
        unet, more = train_unet(latents, scenes, tokenizer, text_encoder, sizes.unet_phase2_steps,
                                sizes.unet_batch, accelerator, vae.config.scaling_factor,
                                sizes.seed + 1, unet=unet, lr=UNET_PHASE2_LR)
        unet_losses += more
    timings["unet_s"] = time.perf_counter() - t
    toy_dir = tm.save_pipeline(out / "toy", vae=vae.cpu(), text_encoder=text_encoder.cpu(),
                               tokenizer=tokenizer, unet=unet.cpu())
    shutil.rmtree(out / "toy-checkpoint", ignore_errors=True)  # only kept in case of a stop
    # A fresh VAE: the world fine-tune of its decoder (recipes.toy.decoder) has not run yet.
    (toy_dir / "vae" / "decoder_log.json").unlink(missing_ok=True)
    timings["total_s"] = time.perf_counter() - t0
    log = {"sizes": asdict(sizes), "timings": {k: round(v, 1) for k, v in timings.items()},
           "device": str(accelerator.device), "scaling_factor": vae.config.scaling_factor,
           "loss": {"clip": _thin(clip_losses), "vae": _thin(vae_losses),
                    "vae_decoder": _thin(decoder_losses), "unet": _thin(unet_losses)}}
    (toy_dir / "train_log.json").write_text(json.dumps(log, indent=1))
    return log


def _thin(losses: list[float], points: int = 300) -> list[list[float]]:
    """Average a loss curve into at most ``points`` [step, loss] pairs for the log."""
    step = max(1, math.ceil(len(losses) / points))
    return [[i + step / 2, round(float(np.mean(losses[i:i + step])), 5)]
            for i in range(0, len(losses), step)]


def main(argv: list[str] | None = None) -> int:
    """Command line for ``make toy-model``."""
    parser = argparse.ArgumentParser(description="Train the toy Stable Diffusion from scratch")
    parser.add_argument("--out", type=Path, default=tm.ASSETS)
    for field, value in asdict(Sizes()).items():
        parser.add_argument(f"--{field.replace('_', '-')}", type=int, default=value)
    args = parser.parse_args(argv)
    sizes = Sizes(**{f: getattr(args, f) for f in asdict(Sizes())})
    log = train_all(args.out, sizes)
    print(json.dumps({"timings": log["timings"], "scaling_factor": log["scaling_factor"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
