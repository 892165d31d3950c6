"""What does DeepCache cost and buy on the toy? (issue 17)

1. Quality: the plain fp32 pipeline (DPM++ 2M, 25 steps, guidance 7.5, seed 0)
   on ``--n`` prompts with ``DeepCacheUNet`` at each interval (1 = off), with the
   preset's guidance cutoff (``--cutoff``, default ``fast.CFG_CUTOFF``; 1 = full
   guidance); judge all-correct per interval and the prompts lost and gained
   against interval 1. ``--lora star`` uses a shipped adapter and its 100 prompts.
2. Speed (``--timing``): whole pipeline calls (4 prompts, 25 steps) of
   ``fast_preset(compile=True)`` with each interval, interleaved rounds, median.

    .venv/bin/python tools/deepcache.py --n 96
    .venv/bin/python tools/deepcache.py --lora star
    tools/as_avx2.sh .venv/bin/python tools/deepcache.py --n 0 --timing
"""

from __future__ import annotations

import argparse
import json

import torch

from recipes import bench
from recipes.perf import judged
from recipes.perf.deepcache import DeepCacheUNet
from recipes.perf.fast import CFG_CUTOFF, CFGCutoff, fast_preset
from recipes.pipelines.models import load_pipeline


def quality(n: int, intervals: list[int], cutoff: float, lora: str | None) -> dict:
    pipe, items = judged.prompt_set(n, lora)
    plain = pipe.unet
    extra = {"callback_on_step_end": CFGCutoff(cutoff_step_ratio=cutoff)} if cutoff < 1 else {}
    right = {}
    for interval in intervals:
        pipe.unet = DeepCacheUNet(plain, interval) if interval > 1 else plain
        right[interval] = judged.right_per_prompt(pipe, items, extra)
    pipe.unet = plain
    base = right.get(1)
    return {"prompts": len(items), "lora": lora, "cutoff": cutoff,
            **{f"interval {i}": judged.versus(base, ok) for i, ok in right.items()}}


def timing(intervals: list[int], repeats: int) -> dict:
    from recipes.perf.benchmarks import _call
    from recipes.toy.promptsets import prompt_items

    prompts = [it["prompt"] for it in prompt_items(4, seed=7)]
    pipes = {i: fast_preset(load_pipeline("toy", device="cpu", dtype=torch.float32),
                            compile=True, deep_cache=i) for i in intervals}
    runs = bench.time_alternating({f"interval {i}": (lambda p=p: _call(p, prompts, 25))
                                   for i, p in pipes.items()}, repeats=repeats, warmup=2)
    out = {name: round(r.median_s * 1e3, 1) for name, r in runs.items()}
    first = f"interval {intervals[0]}"
    return {"applied": pipes[intervals[-1]].fast_preset_steps, "call_ms": out,
            "speedup_vs_first": {k: round(out[first] / v, 3) for k, v in out.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=96, help="prompts (0: skip the quality part)")
    parser.add_argument("--intervals", default="1,2,3", help="comma-separated (1 = off)")
    parser.add_argument("--cutoff", type=float, default=CFG_CUTOFF,
                        help=f"guidance cutoff ratio (default {CFG_CUTOFF}; 1 = full guidance)")
    parser.add_argument("--lora", default=None, help="a shipped adapter, e.g. star")
    parser.add_argument("--timing", action="store_true", help="time compiled pipelines too")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    intervals = [int(i) for i in args.intervals.split(",")]
    if args.n:
        print(json.dumps(quality(args.n, intervals, args.cutoff, args.lora), ensure_ascii=False))
    if args.timing:
        print(json.dumps(timing(intervals, args.repeats)))


if __name__ == "__main__":
    main()
