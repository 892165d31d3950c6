"""Fine-tune the toy VAE's decoder on the whole world: base shapes, the star and the ink style.

The toy VAE was trained on base-world renders only (flat colours, three shapes).
Its encoder still tells ink-wash images apart, but its decoder had never drawn
one: a round trip (encode → decode → judge) of ink renders kept the ink style in
4.5 % of 200 (shape 0.37, colour 0.57; ``vae/decoder_log.json``), so no UNet adapter could draw ink
(chapter 06's ``vae_ceiling``). A real SD VAE is a general image autoencoder;
this step makes the toy one general for every image the toy world can render.

As for SD's improved VAE (ft-MSE), only the decoder trains; the encoder and so
the latent space stay as they were, so the UNet, the ControlNets and the LoRA
adapters trained on these latents stay valid. ``make toy-model`` runs it after
the base training; ``make toy-vae`` runs only this step (≈ 10 min on 2 cores) and
refuses a decoder it already tuned, so the shipped weights come from one recipe.
Before/after round-trip accuracies and the loss curve go to
``vae/decoder_log.json`` beside the weights.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from recipes.toy import captions as tc
from recipes.toy import judge as tj
from recipes.toy import model as tm
from recipes.toy import world as tw


@dataclass
class DecoderSizes:
    """The shipped recipe (``python -m recipes.toy.decoder`` defaults)."""

    steps: int = 2000
    batch: int = 16
    lr: float = 5e-4
    n_base: int = 6000  # plain base-world renders: keep what the decoder already draws
    n_ink: int = 3000  # ink wash, every shape including the star
    n_star: int = 1500  # plain stars
    seed: int = 100


# Round-trip sets: name → (shapes, styles), judged on every attribute the judge reads.
ROUND_TRIP_SETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "base": (tw.BASE_SHAPES, ("plain",)),
    "star": (("star",), ("plain",)),
    "ink": (tw.ALL_SHAPES, ("ink",)),
}


def world_pool(sizes: DecoderSizes) -> torch.Tensor:
    """Render the training images (uint8, N×3×H×W): base, ink and star, seeded."""
    parts = [(sizes.n_base, ROUND_TRIP_SETS["base"]), (sizes.n_ink, ROUND_TRIP_SETS["ink"]),
             (sizes.n_star, ROUND_TRIP_SETS["star"])]
    arrays = []
    for k, (n, (shapes, styles)) in enumerate(parts):
        records = tc.make_dataset(n, seed=sizes.seed + k, size=tm.IMAGE_SIZE,
                                  shapes=shapes, styles=styles)
        arrays.append(np.stack([np.asarray(r.image, dtype=np.uint8) for r in records]))
    return torch.from_numpy(np.concatenate(arrays)).permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def round_trip(vae, shapes, styles, n: int = 200, seed: int = 900) -> dict:
    """Judge ``n`` true renders after encode (latent mean) → decode.

    Returns per-attribute accuracy (style included), ``all_correct`` and the
    mean absolute pixel error (0-255). A UNet only produces latents, so this is
    the ceiling for anything trained on this VAE's latent space.
    """
    from recipes.toy.train import to_tensor

    records = tc.make_dataset(n, seed=seed, size=tm.IMAGE_SIZE, shapes=shapes, styles=styles)
    x = to_tensor([r.image for r in records]).to(vae.device, vae.dtype)
    y = vae.decode(vae.encode(x).latent_dist.mean).sample.float().clamp(-1, 1)
    images = ((y + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    truth_pixels = np.stack([np.asarray(r.image) for r in records]).astype(np.float32)
    hits = {k: [] for k in tj.JUDGED}
    for image, record in zip(images, records, strict=True):
        read = tj.judge(image).attributes
        truth = record.scene.as_dict()
        for k in tj.JUDGED:
            hits[k].append(read[k] == truth.get(k, "plain"))
    per = {k: float(np.mean(v)) for k, v in hits.items()}
    every = np.all([hits[k] for k in tj.JUDGED], axis=0)
    return {"all_correct": float(np.mean(every)), "per_attribute": per,
            "mae": float(np.abs(images.astype(np.float32) - truth_pixels).mean())}


def round_trips(vae, n: int = 200) -> dict[str, dict]:
    """``round_trip`` on each of ``ROUND_TRIP_SETS`` (base, star, ink), seeds 900, 901, 902."""
    return {name: round_trip(vae, shapes, styles, n, seed=900 + i)
            for i, (name, (shapes, styles)) in enumerate(ROUND_TRIP_SETS.items())}


def finetune(vae, sizes: DecoderSizes, accelerator=None):
    """Train the decoder of ``vae`` on ``world_pool(sizes)``; returns (vae, losses, seconds)."""
    from accelerate import Accelerator

    from recipes.toy.train import finetune_decoder

    pool = world_pool(sizes)
    start = time.perf_counter()
    vae, losses = finetune_decoder(vae, pool, sizes.steps, sizes.batch,
                                   accelerator or Accelerator(), seed=sizes.seed, lr=sizes.lr)
    return vae, losses, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """``make toy-vae``: fine-tune the decoder of a toy pipeline's VAE in place, with a log."""
    from diffusers import AutoencoderKL

    from recipes.toy.train import _thin

    parser = argparse.ArgumentParser(
        description="Fine-tune the toy VAE decoder on base, star and ink renders (encoder frozen)")
    parser.add_argument("--model", type=Path, default=tm.ASSETS / "toy",
                        help="pipeline folder whose vae/ is updated (default: recipes/assets/toy)")
    parser.add_argument("--steps", type=int, default=DecoderSizes.steps)
    parser.add_argument("--n-eval", type=int, default=200, help="round-trip images per set")
    parser.add_argument("--again", action="store_true",
                        help="fine-tune a decoder that this step already tuned (not reproducible)")
    args = parser.parse_args(argv)
    folder = args.model / "vae"
    if not (folder / "config.json").is_file():
        raise SystemExit(f"No VAE in {folder}; run `make toy-model` first or pass --model.")
    if (folder / "decoder_log.json").is_file() and not args.again:
        raise SystemExit(f"{folder} was already fine-tuned on the whole world (decoder_log.json); "
                         "rebuild it with `make toy-model`, or pass --again to tune it further.")
    sizes = DecoderSizes(steps=args.steps)
    vae = AutoencoderKL.from_pretrained(folder).eval()
    before = round_trips(vae, args.n_eval)
    vae, losses, seconds = finetune(vae, sizes)
    after = round_trips(vae, args.n_eval)
    vae.save_pretrained(folder, safe_serialization=True)
    log = {"settings": asdict(sizes), "seconds": round(seconds, 1),
           "threads": torch.get_num_threads(), "n_eval": args.n_eval,
           "round_trip_before": before, "round_trip_after": after, "loss": _thin(losses, 100)}
    (folder / "decoder_log.json").write_text(json.dumps(log, indent=1))
    print(json.dumps({name: [before[name]["all_correct"], after[name]["all_correct"]]
                      for name in before}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
