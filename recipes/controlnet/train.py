"""Train a ControlNet for the toy Stable Diffusion (``make toy-controlnet``).

The recipe is the ControlNet paper's: copy the UNet's encoder into a
``ControlNetModel`` (``from_unet``), keep the base model frozen, and train only
the copy, whose outputs enter the UNet through zero-initialised convolutions, so
training starts from exactly the base model. The loss is the base model's own
(MSE on its v-prediction target, min-SNR weighted). Captions are dropped to ""
half of the time, as in the paper, so control also works with an empty prompt.

Four choices are the toy's own and are measured in chapter 05:
- The conditioning encoder downsamples 4× (channels 16, 32, 64) because the toy
  VAE does; diffusers' default (16, 32, 96, 256) downsamples 8× and would not fit
  the 16×16 latents.
- Timesteps are drawn with T2I-Adapter's cubic schedule (more high-noise steps),
  where outline and placement are decided.
- Half of the training images are not from the world: random polygons,
  ellipses, stars, blobs and letters anywhere in the frame (``cc.drawn_shape``),
  flat-coloured on a white or black background, captioned with colour and
  background only. Half of all conditions are not clean Canny edges but
  user-style drawings of the outline (pen widths, jitter, sometimes filled,
  passed through Canny or inverted exactly as the CLI does). Together they teach
  "fill the outline with the prompt's colour", not "find the nearest world shape".
- Captions: empty (as in the paper), colour and background only (what a user
  with a drawn outline types), the true caption, or one with shape, position and
  size scrambled, so geometry comes from the control when prompt and control
  disagree.
- A finishing phase (the last ``finish_steps``) samples timesteps uniformly at a
  lower learning rate and, on half of the batches, adds a guided loss: the
  empty-prompt branch runs with the same control and the classifier-free-guided
  prediction at a random scale in [1, 9] must match the target too. Without it
  guidance 7.5 inflated the outline (small shapes came out 1.4× their area, IoU
  0.75 on the chapter's 100 scenes vs 0.82 at guidance 3): the empty-prompt
  branch drew a smaller, softer object and CFG extrapolated the difference.

Adherence (object-mask IoU on fixed scenes) is measured during training and
written to ``train_log.json`` beside the weights, to show when control appears.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from recipes.controlnet import conditions as cc
from recipes.toy import captions as tc
from recipes.toy import model as tm
from recipes.toy import world as tw

EMBEDDING_CHANNELS = (16, 32, 64)  # two stride-2 convs: 64×64 condition → 16×16 latents


@dataclass
class Settings:
    """What ``make toy-controlnet`` trains; the defaults are what was shipped."""

    condition: str = "canny"
    n_images: int = 3000
    n_drawn: int = 3000
    steps: int = 1900
    batch: int = 16
    lr: float = 5e-4
    p_empty: float = 0.3
    p_color: float = 0.4
    p_shuffle: float = 0.15
    p_sketch: float = 0.5
    eval_every: int = 100
    n_eval: int = 16
    seed: int = 0
    finish_steps: int = 700
    finish_lr: float = 2e-4
    p_cfg: float = 0.5
    cfg_scale: float = 9.0


def build_controlnet(unet, conditioning_channels: int = 3):
    """A ControlNetModel copied from ``unet`` with a 4× conditioning encoder (zero convs at 0)."""
    from diffusers import ControlNetModel

    return ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=EMBEDDING_CHANNELS,
                                     conditioning_channels=conditioning_channels)


def controlnet_pipeline(base, controlnet):
    """A StableDiffusionControlNetPipeline sharing ``base``'s components (no copies)."""
    from diffusers import StableDiffusionControlNetPipeline

    pipe = StableDiffusionControlNetPipeline(
        vae=base.vae, text_encoder=base.text_encoder, tokenizer=base.tokenizer, unet=base.unet,
        controlnet=controlnet, scheduler=base.scheduler, safety_checker=None,
        feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def color_prompt(color: str, background: str, lang: str = "en", shape: str | None = None,
                 rng: random.Random | None = None) -> str:
    """A prompt that names only colour and background (plus ``shape`` when it is a world shape).

    With ``rng=None`` it is canonical: "a red shape on a black background" (or
    "a red circle on ..." when ``shape`` is given). This is the bar's prompt: it
    leaves outline and place entirely to the control.
    """
    words = tw.ZH if lang == "zh" else None
    c = words["color"][color].removesuffix("色") + "色" if words else color
    bg = words["background"][background].removesuffix("色") + "色" if words else background
    tpls = tc.COLOR_TEMPLATES[lang]
    if shape is not None:
        tpl = tpls[-1]
        sh = words["shape"][shape] if words else shape
    else:
        tpl, sh = (tpls[0] if rng is None else rng.choice(tpls[:-1])), ""
    text = tpl.format(color=c, bg=bg, shape=sh)
    return re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", text) if lang == "en" else text


def scene_prompt(scene: tw.Scene, rng: random.Random, p_empty: float, p_shuffle: float,
                 p_color: float = 0.0) -> str:
    """Training caption for ``scene``: empty, colour+background only, scrambled or true."""
    u = rng.random()
    if u < p_empty:
        return ""
    if u < p_empty + p_color:
        return color_prompt(scene.color, scene.background, rng=rng)
    if u < p_empty + p_color + p_shuffle:
        scene = replace(scene, shape=rng.choice(tw.BASE_SHAPES),
                        position=rng.choice(tw.ATTRIBUTES["position"]),
                        size=rng.choice(tw.ATTRIBUTES["size"]))
    return tc.caption(scene, "en", rng)


def drawn_prompt(color: str, background: str, kind: str, rng: random.Random,
                 p_empty: float) -> str:
    """Training caption for a drawn shape: empty, or colour + background (+ world shape word)."""
    if rng.random() < p_empty:
        return ""
    if kind in tw.BASE_SHAPES and rng.random() < 0.5:
        return color_prompt(color, background, shape=kind, rng=rng)
    return color_prompt(color, background, rng=rng)


def make_drawn_pool(n: int, seed: int, size: int = 64) -> tuple[torch.Tensor, np.ndarray, list]:
    """``n`` drawn shapes outside the world: uint8 images, coverage maps, (colour, bg, kind)."""
    rng = np.random.default_rng(seed)
    images, covers, meta = [], [], []
    for _ in range(n):
        cover, kind = cc.drawn_shape(rng, size)
        color = tw.ATTRIBUTES["color"][int(rng.integers(6))]
        bg = tw.ATTRIBUTES["background"][int(rng.integers(2))]
        images.append(np.asarray(cc.paint(cover, tw.PALETTE[color], tw.BACKGROUNDS[bg])))
        covers.append(cover)
        meta.append((color, bg, kind))
    pool = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return pool, np.stack(covers), meta


def drawn_eval_set(n: int, seed: int = 777, size: int = 64):
    """``n`` held-out user-style drawings: (prompts, conditions, filled-outline masks, meta).

    Each is a random drawn shape (``cc.drawn_shape``) sketched as black strokes
    on white and turned into a condition the way the CLI does with
    ``--control-preprocess canny``; the target is the filled outline.
    """
    rng = np.random.default_rng(seed)
    prompts, conds, masks, meta = [], [], [], []
    for i in range(n):
        cover, kind = cc.drawn_shape(rng, size)
        color = tw.ATTRIBUTES["color"][i % 6]
        bg = tw.ATTRIBUTES["background"][(i // 6) % 2]
        drawing = cc.sketch(cover, rng, canvas=256, filled=False)
        prompts.append(color_prompt(color, bg))
        conds.append(cc.from_drawing(drawing, size, "canny"))
        masks.append(cover > 0.5)
        meta.append((color, bg, kind))
    return prompts, conds, masks, meta


def eval_set(n: int, kind: str, seed: int = 12345, prompt: str = "color"):
    """``n`` held-out scenes: (prompts, condition images, target masks, scenes).

    ``prompt="color"`` gives colour + background only ("a red shape on a black
    background", the bar's prompt: outline and place must come from the
    control); ``"full"`` gives the canonical caption with shape and position.
    """
    recs = tc.make_dataset(n, seed=seed, size=tm.IMAGE_SIZE)
    prompts = [tc.caption(r.scene, "en") if prompt == "full" else
               color_prompt(r.scene.color, r.scene.background) for r in recs]
    conds = [cc.make_condition(kind, r.image) for r in recs]
    masks = [cc.object_mask(r.image) for r in recs]
    return prompts, conds, masks, [r.scene for r in recs]


@torch.no_grad()
def measure(pipe, prompts, conds, masks, steps: int = 10, seed: int = 0, scale: float = 1.0
            ) -> dict[str, float]:
    """Generate one image per control and return the mean IoU and edge F1 against it."""
    from recipes.pipelines.generate import generators

    images = pipe(list(prompts), image=list(conds), num_inference_steps=steps,
                  controlnet_conditioning_scale=scale,
                  generator=generators(range(seed, seed + len(prompts)), pipe.device)).images
    edges = [cc.canny(im) for im in images]
    return {"iou": float(np.mean([cc.iou(cc.object_mask(im), m) for im, m in zip(images, masks,
                                                                               strict=True)])),
            "edge_f1": float(np.mean([cc.edge_f1(e, cc.canny(m.astype(np.uint8) * 255))
                                      for e, m in zip(edges, masks, strict=True)]))}


def train(settings: Settings, out: Path | None = None, base=None, accelerator=None) -> tuple:
    """Train a ControlNet on ``settings.condition``; returns (controlnet, log dict).

    ``base`` is a loaded toy StableDiffusionPipeline (loaded from the shipped
    assets when None). When ``out`` is given the ControlNet is saved there as a
    diffusers folder (fp16 safetensors) with ``train_log.json``.
    """
    from accelerate import Accelerator
    from diffusers.training_utils import compute_snr

    from recipes.pipelines.models import load_pipeline
    from recipes.toy.train import encode_pool, make_pool

    s = settings
    accelerator = accelerator or Accelerator(cpu=not torch.cuda.is_available())
    dev = accelerator.device
    t0 = time.perf_counter()
    base = base or load_pipeline("toy", device=str(dev), dtype=torch.float32)
    for part in (base.vae, base.text_encoder, base.unet):
        part.requires_grad_(False)
    world, scenes = make_pool(s.n_images, s.seed)
    drawn, drawn_covers, drawn_meta = make_drawn_pool(s.n_drawn, s.seed + 1)
    pool = torch.cat([world, drawn])
    covers = np.concatenate([np.stack([cc.object_mask(im.permute(1, 2, 0).numpy())
                                       for im in world]).astype(np.float32), drawn_covers])
    means, stds = encode_pool(base.vae, pool, dev)
    crng = np.random.default_rng(s.seed + 2)

    def condition(i: int) -> np.ndarray:
        image = Image.fromarray(pool[i].permute(1, 2, 0).numpy())
        if s.condition == "canny":
            c = cc.training_condition(image, covers[i], crng, s.p_sketch)
        else:
            c = cc.make_condition(s.condition, image)
        return np.asarray(c)[..., 0]

    def prompt(i: int) -> str:
        if i < len(scenes):
            return scene_prompt(scenes[i], rng, s.p_empty, s.p_shuffle, s.p_color)
        color, bg, kind = drawn_meta[i - len(scenes)]
        return drawn_prompt(color, bg, kind, rng, s.p_empty)
    sf = base.vae.config.scaling_factor
    data_s = time.perf_counter() - t0

    torch.manual_seed(s.seed)
    rng = random.Random(s.seed)
    controlnet = build_controlnet(base.unet).to(dev)
    controlnet.train()
    opt = torch.optim.AdamW(controlnet.parameters(), lr=s.lr, weight_decay=0.0)
    controlnet, opt = accelerator.prepare(controlnet, opt)
    noise_sched = tm.train_scheduler()
    n_t = noise_sched.config.num_train_timesteps
    ev = eval_set(s.n_eval, s.condition)
    ev_drawn = drawn_eval_set(s.n_eval // 2)
    pipe = controlnet_pipeline(base, accelerator.unwrap_model(controlnet))
    losses, curve = [], []

    def _log(step: int) -> dict:
        return {"settings": asdict(s), "steps_done": step, "device": str(dev),
                "data_s": round(data_s, 1), "total_s": round(time.perf_counter() - t0, 1),
                "threads": torch.get_num_threads(),
                "eval": {"n": s.n_eval, "n_drawn": s.n_eval // 2, "steps": 10, "scale": 1.0,
                         "prompt": "colour + background only"}, "adherence": curve,
                "loss": [[i + 12.5, round(float(np.mean(losses[i:i + 25])), 5)]
                         for i in range(0, len(losses), 25)]}

    def evaluate(step: int) -> None:
        controlnet.eval()
        m = measure(pipe, *ev[:3])
        m["drawn_iou"] = measure(pipe, *ev_drawn[:3])["iou"]
        controlnet.train()
        curve.append({"step": step, **{k: round(v, 4) for k, v in m.items()}})
        if out is not None and step:  # a stopped run still leaves its last checkpoint
            save(accelerator.unwrap_model(controlnet), Path(out), _log(step))
        bar.set_postfix(loss=f"{np.mean(losses[-25:]) if losses else 0:.4f}", iou=f"{m['iou']:.2f}")

    bar = tqdm(range(s.steps), desc=f"ControlNet ({s.condition})",
               disable=not accelerator.is_main_process)
    evaluate(0)
    for step in bar:
        finishing = step >= s.steps - s.finish_steps
        if step == s.steps - s.finish_steps:
            for group in opt.param_groups:
                group["lr"] = s.finish_lr
        idx = rng.sample(range(len(pool)), s.batch)
        x0 = (means[idx] + stds[idx] * torch.randn_like(means[idx])).to(dev) * sf
        cond = (torch.from_numpy(np.stack([condition(i) for i in idx])).unsqueeze(1)
                .expand(-1, 3, -1, -1).float().div(255).to(dev))
        prompts = [prompt(i) for i in idx]
        ids = base.tokenizer(prompts, padding="max_length", truncation=True,
                             max_length=tm.MAX_LENGTH, return_tensors="pt").input_ids
        with torch.no_grad():
            text = base.text_encoder(ids.to(dev))[0]
        noise = torch.randn_like(x0)
        # T2I-Adapter's cubic sampling: t = (1 - u^3) T puts ~80% of steps in the noisier half,
        # where outline and place are decided; the finishing phase samples t uniformly.
        u = torch.rand(s.batch, device=dev)
        t = ((1 - u ** (1 if finishing else 3)) * n_t).long().clamp(0, n_t - 1)
        noisy = noise_sched.add_noise(x0, noise, t)
        down, mid = controlnet(noisy, t, text, controlnet_cond=cond, return_dict=False)
        pred = base.unet(noisy, t, text, down_block_additional_residuals=down,
                         mid_block_additional_residual=mid).sample
        snr = compute_snr(noise_sched, t)
        weight = torch.clamp(snr, max=5.0) / (snr + 1)
        target = noise_sched.get_velocity(x0, noise, t)
        loss = v_loss(pred, target, weight)
        if finishing and rng.random() < s.p_cfg:
            # Guided loss: the empty-prompt branch runs too (same control), and the
            # classifier-free-guided prediction at a random scale in [1, cfg_scale] must also
            # match the target. The plain loss keeps the prompted branch on the data; this one
            # pulls the empty-prompt branch's outline onto it, so guidance does not inflate it.
            empty = base.text_encoder(base.tokenizer(
                [""] * s.batch, padding="max_length", max_length=tm.MAX_LENGTH,
                return_tensors="pt").input_ids.to(dev))[0]
            down_u, mid_u = controlnet(noisy, t, empty, controlnet_cond=cond, return_dict=False)
            pred_u = base.unet(noisy, t, empty, down_block_additional_residuals=down_u,
                               mid_block_additional_residual=mid_u).sample
            w = 1 + (s.cfg_scale - 1) * torch.rand(s.batch, 1, 1, 1, device=dev)
            loss = loss + v_loss(pred_u + w * (pred - pred_u), target, weight)
        accelerator.backward(loss)
        torch.nn.utils.clip_grad_norm_(controlnet.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if (step + 1) % s.eval_every == 0 or step + 1 == s.steps:
            evaluate(step + 1)
    controlnet = accelerator.unwrap_model(controlnet).eval()
    log = _log(s.steps)
    if out is not None:
        save(controlnet, Path(out), log)
    return controlnet, log


def v_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Per-sample MSE on the v target, weighted per sample (min-SNR), averaged."""
    return (F.mse_loss(pred, target, reduction="none").mean(dim=(1, 2, 3)) * weight).mean()


def save(controlnet, out: Path, log: dict) -> Path:
    """Save ``controlnet`` as an fp16 diffusers folder (a few MB) plus ``train_log.json``."""
    import copy

    out.mkdir(parents=True, exist_ok=True)
    copy.deepcopy(controlnet).to(torch.float16).save_pretrained(out, safe_serialization=True)
    (out / "train_log.json").write_text(json.dumps(log, indent=1))
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line for ``make toy-controlnet`` (one condition per call)."""
    parser = argparse.ArgumentParser(description="Train a toy ControlNet (base model frozen)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: recipes/assets/toy-<condition>)")
    for field, value in asdict(Settings()).items():
        parser.add_argument(f"--{field.replace('_', '-')}", type=type(value), default=value,
                            help=f"default: {value}")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = Settings(**{f: getattr(args, f) for f in asdict(Settings())})
    out = args.out or tm.ASSETS / f"toy-{settings.condition}"
    _, log = train(settings, out)
    print(json.dumps({"out": str(out), "total_s": log["total_s"], "final": log["adherence"][-1]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
