"""``python -m recipes evaluate``: judge accuracy (and FID) over a JSONL prompt file;
``monitor``: peak memory/CPU/GPU of any command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from recipes.course.cli_args import (
    HelpFormatter,
    add_model_args,
    check_request,
    load_pipeline_from_args,
)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from recipes.course.cli_args import UsageError
    from recipes.evaluation.evaluate import evaluate, read_prompts

    if not 1 <= args.batch_size <= 256:
        raise UsageError(f"--batch-size must be from 1 to 256, got {args.batch_size}")
    items = read_prompts(args.prompts)
    if args.misses and Path(args.misses).is_dir():
        raise UsageError(f"--misses: {args.misses} is a folder; give a file name, "
                         "e.g. misses.jsonl")
    if args.misses and not Path(args.misses).parent.is_dir():
        raise UsageError(f"--misses: folder {Path(args.misses).parent} does not exist; "
                         "create it or pick another path")
    from recipes.lora.load import apply_loras, resolve_specs, settle_guidance
    loras = resolve_specs(args.lora)  # bad --lora: one line, before the model loads
    settle_guidance(args, loras)  # no --guidance: what the adapters recommend, else 7.5
    check_request(args, [it["prompt"] for it in items])
    pipe = apply_loras(load_pipeline_from_args(args), loras, fuse=True)
    result = evaluate(pipe, items, args.seed, steps=args.steps, guidance=args.guidance,
                      batch_size=args.batch_size, progress=True, fid=args.fid,
                      misses=args.misses)
    result["model"] = args.model
    result["lora"] = args.lora or []
    print(json.dumps(result, ensure_ascii=False))
    return 0


def register(sub) -> None:
    """Add the ``evaluate`` and ``monitor`` commands."""
    ev = sub.add_parser(
        "evaluate", help="judge accuracy over a JSONL prompt file", formatter_class=HelpFormatter,
        description="Generate one image per prompt and let the judge check the attributes each "
                    "prompt asks for; prints JSON (all-correct, per attribute) as its last line.",
        epilog="example:\n  python -m recipes prompts --n 50 --out p.jsonl\n"
               "  python -m recipes evaluate --model toy --prompts p.jsonl --steps 25 --fid")
    ev.add_argument("--prompts", required=True,
                    help='JSONL file, one {"prompt": ..., "expect": {...}} per line '
                         '("expect" optional: parsed from the prompt)')
    ev.add_argument("--batch-size", type=int, default=16, help="images per pipeline call, 1-256")
    ev.add_argument("--fid", action="store_true",
                    help="also report FID against renders of the true scenes (toy-CLIP features)")
    ev.add_argument("--misses", default=None, metavar="PATH",
                    help="also write every prompt the judge found wrong to this JSONL file "
                         "(asked vs read attribute, image seed), e.g. misses.jsonl "
                         "(default: none)")
    add_model_args(ev, adapter_guidance=True)
    from recipes.lora.load import add_lora_arg
    add_lora_arg(ev)
    ev.set_defaults(func=_cmd_evaluate)
    _register_monitor(sub)


def _cmd_monitor(args: argparse.Namespace) -> int:
    from recipes.course.cli_args import UsageError
    from recipes.evaluation.monitor import run_command

    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        raise UsageError("no command to monitor: put it after --, "
                         "e.g. python -m recipes monitor -- python -c 'print(1)'")
    if not 0.001 <= args.interval <= 10:
        raise UsageError(f"--interval must be from 0.001 to 10 seconds, got {args.interval}")
    code, peaks, mon = run_command(cmd, interval=args.interval)
    if args.csv:
        mon.to_csv(args.csv)
    if args.json:
        mon.to_json(args.json)
    print(json.dumps(peaks, ensure_ascii=False))
    return code


def _register_monitor(sub) -> None:
    mo = sub.add_parser(
        "monitor", help="run a command and report its peak memory, CPU and GPU use",
        formatter_class=HelpFormatter,
        description="Run CMD, sample its process tree (RSS, CPU %%; GPU memory and utilisation "
                    "via NVML when a GPU is there) and print the peaks as JSON on the last line: "
                    "peak_rss_mb, cpu_percent_mean, seconds, gpu_peak_mb (null without a GPU). "
                    "Exits with CMD's exit code.",
        epilog="examples:\n  python -m recipes monitor -- python -m recipes generate "
               "--prompt 'a red circle' --out red.png\n"
               "  python -m recipes monitor --interval 0.01 --csv run.csv -- python train.py")
    mo.add_argument("--interval", type=float, default=0.05,
                    help="seconds between samples, 0.001-10 (shorter catches briefer spikes)")
    mo.add_argument("--csv", default=None,
                    help="also write every sample to this CSV file, e.g. run.csv (default: none)")
    mo.add_argument("--json", default=None,
                    help="also write peaks + samples to this JSON file, e.g. run.json "
                         "(default: none)")
    mo.add_argument("cmd", nargs=argparse.REMAINDER,
                    help="the command to run, after --, e.g. -- python my_script.py")
    mo.set_defaults(func=_cmd_monitor)
