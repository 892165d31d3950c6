"""``python -m recipes bench``: default pipeline vs ``fast_preset`` (time, memory, accuracy)."""

from __future__ import annotations

import argparse
import json
import sys

from recipes.course.cli_args import HelpFormatter, UsageError


def _cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from recipes.perf import bench
    from recipes.perf.benchmarks import bench_sd15, bench_toy

    kind = args.device.split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda needs an NVIDIA GPU with a CUDA build of torch; "
                         "this machine has none (use --device cpu)")
    if kind == "cuda":
        def partial(out):  # a run cut short (a GPU lease ending) still leaves its numbers
            bench.save("partial_bench_cuda", out)  # not bench_*: no summary row
            print(f"[bench] {json.dumps(out, ensure_ascii=False)}", file=sys.stderr, flush=True)

        result = bench_sd15(args.device, steps=args.steps or 50, repeats=args.repeats,
                            compile=args.compile, partial=partial,
                            lcm_steps=4 if args.lcm_steps is None else args.lcm_steps,
                            variants=tuple(args.variants.split(",")))
    elif kind == "cpu":
        result = bench_toy(args.model, "cpu", steps=args.steps or 25, repeats=args.repeats,
                           n_quality=args.quality_prompts, compile=args.compile,
                           lcm_steps=args.lcm_steps)
    else:
        raise UsageError(f"unknown --device {args.device!r}: use cpu or cuda")
    name = args.save_as or f"bench_{kind}"
    path = bench.save(name if "speedup" in result else "partial_bench_cuda", result)
    table = bench.write_summary()
    print(f"saved {path} and {table}", file=sys.stderr)
    print(json.dumps(result, ensure_ascii=False))
    return 0


def register(sub) -> None:
    """Add the ``bench`` command."""
    be = sub.add_parser(
        "bench", help="default pipeline vs fast_preset (time, memory, accuracy)",
        formatter_class=HelpFormatter,
        description="Alternate the default pipeline and recipes.perf.fast.fast_preset; report "
                    "median times, peak memory and judge accuracy; save to results/.",
        epilog="examples:\n  python -m recipes bench --device cpu\n"
               "  python -m recipes bench --device cuda --steps 50")
    be.add_argument("--device", default="cpu", help="cpu: toy model; cuda: SD-1.5 shapes")
    be.add_argument("--model", default="toy", help="pipeline for --device cpu")
    be.add_argument("--steps", type=int, default=None, help="default 25 on cpu, 50 on cuda")
    be.add_argument("--repeats", type=int, default=5, help="timed rounds (median reported)")
    be.add_argument("--lcm-steps", type=int, default=None,
                    help="steps of the LCM comparison (LCMScheduler, guidance 1; default: the "
                         "recommended count on cpu, 4 on cuda); 0 skips it")
    be.add_argument("--variants", default="plain,fast",
                    help="cuda: which pipelines to time (plain,fast; one alone gives no ratio)")
    be.add_argument("--save-as", default=None,
                    help="results/NAME.json (default bench_cpu / bench_cuda; e.g. "
                         "bench_cpu_avx2 under tools/as_avx2.sh)")
    # 144: one wrong image is 0.7 points, so "accuracy within 2 points" can be told apart from
    # one unlucky image (with 48 prompts a single image was 2.08 points)
    be.add_argument("--quality-prompts", type=int, default=144,
                    help="prompts judged for the accuracy check (cpu; default 144)")
    be.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True,
                    help="torch.compile in the fast preset (default: on; its first-call cost "
                         "is reported separately)")
    be.set_defaults(func=_cmd_bench)
