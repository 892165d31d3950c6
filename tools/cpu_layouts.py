"""Is bf16 + channels_last faster than bf16 alone on this CPU? (the choice behind fast_preset)

Times the toy pipeline (4 images x 25 steps) in fp32, bf16, and bf16 with the
channels-last layout, in interleaved rounds so a noisy machine slows all of
them alike. Run: ``.venv/bin/python tools/cpu_layouts.py [--repeats 7]``.
"""

from __future__ import annotations

import argparse

import torch

from recipes import bench
from recipes.pipelines.generate import generators
from recipes.pipelines.models import load_pipeline

PROMPTS = ["a large red circle on the left, white background"] * 4


def variants() -> dict:
    fp32 = load_pipeline("toy", device="cpu", dtype=torch.float32)
    bf16 = load_pipeline("toy", device="cpu", dtype=torch.bfloat16)
    both = load_pipeline("toy", device="cpu", dtype=torch.bfloat16)
    for module in (both.unet, both.vae):
        module.to(memory_format=torch.channels_last)
    return {"fp32": fp32, "bf16": bf16, "bf16 + channels_last": both}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    def call(pipe):
        return pipe(PROMPTS, num_inference_steps=25, guidance_scale=7.5,
                    generator=generators(range(4))).images

    timings = bench.time_alternating({k: (lambda p=p: call(p)) for k, p in variants().items()},
                                     repeats=args.repeats, warmup=1)
    for name, t in timings.items():
        print(f"{name:>22}: median {t.median_s:.3f} s  (min {min(t.times):.3f}, "
              f"max {max(t.times):.3f})")


if __name__ == "__main__":
    main()
