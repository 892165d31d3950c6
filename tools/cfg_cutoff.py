"""What does stopping classifier-free guidance early cost and buy on the toy? (issue 17)

Two measurements behind ``recipes.perf.fast.CFG_CUTOFF`` (the numbers quoted in
``fast.py`` and notebook 03 come from this script):

1. Quality: the plain fp32 pipeline (DPM++ 2M, 25 steps, guidance 7.5, seed 0)
   on ``--n`` prompts with ``CFGCutoff`` at each ratio; judge all-correct per
   ratio and how many prompts the cutoff lost and gained against full guidance.
   ``--lora star`` loads a shipped adapter and uses that concept's prompt set
   (the same 100 prompts as ``make eval-lora``).
2. Cost (``--timing``): the compiled UNet of ``fast_preset`` at batch 8 (4 images
   with guidance) and batch 4 (after the cutoff), median of interleaved rounds:
   halving the batch does not halve the time on a small model.

    .venv/bin/python tools/cfg_cutoff.py --n 96
    .venv/bin/python tools/cfg_cutoff.py --lora star --ratios 1,0.4,0.2
    tools/as_avx2.sh .venv/bin/python tools/cfg_cutoff.py --n 0 --timing
"""

from __future__ import annotations

import argparse
import json

import torch

from recipes import bench
from recipes.perf import judged
from recipes.perf.fast import CFGCutoff, fast_preset
from recipes.pipelines.models import load_pipeline


def quality(n: int, ratios: list[float], lora: str | None) -> dict:
    pipe, items = judged.prompt_set(n, lora)
    right = {ratio: judged.right_per_prompt(
        pipe, items, {"callback_on_step_end": CFGCutoff(cutoff_step_ratio=ratio)})
        for ratio in ratios}
    full = right.get(1.0)
    return {"prompts": len(items), "lora": lora,
            **{f"cutoff {ratio:.0%}": judged.versus(full, ok) for ratio, ok in right.items()}}


def timing(repeats: int) -> dict:
    pipe = fast_preset(load_pipeline("toy", device="cpu", dtype=torch.float32), compile=True)
    unet = pipe.unet
    cfg = unet.config
    x = torch.randn(8, cfg.in_channels, cfg.sample_size, cfg.sample_size)
    context = torch.randn(8, pipe.tokenizer.model_max_length, cfg.cross_attention_dim)
    t = torch.tensor(500)
    with torch.no_grad():
        runs = bench.time_alternating(
            {"batch 8": lambda: unet(x, t, context, return_dict=False),
             "batch 4": lambda: unet(x[:4], t, context[:4], return_dict=False)},
            repeats=repeats, warmup=2)
    b8, b4 = runs["batch 8"].median_s, runs["batch 4"].median_s
    return {"applied": pipe.fast_preset_steps, "unet_batch8_ms": round(b8 * 1e3, 2),
            "unet_batch4_ms": round(b4 * 1e3, 2), "batch4_over_batch8": round(b4 / b8, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=96, help="prompts (0: skip the quality part)")
    parser.add_argument("--ratios", default="1,0.6,0.4,0.3,0.2,0.1",
                        help="cutoff ratios, comma-separated (1 = full guidance)")
    parser.add_argument("--lora", default=None, help="a shipped adapter, e.g. star")
    parser.add_argument("--timing", action="store_true", help="time the compiled UNet too")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    if args.n:
        ratios = [float(r) for r in args.ratios.split(",")]
        print(json.dumps(quality(args.n, ratios, args.lora), ensure_ascii=False))
    if args.timing:
        print(json.dumps(timing(args.repeats)))


if __name__ == "__main__":
    main()
