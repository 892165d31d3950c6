"""Command line: ``python -m recipes <command>``; ``--help`` on any command lists its options.

Bad input (empty or overlong prompt, unknown model or scheduler, bad size,
unreadable image, malformed JSONL line) prints one ``error:`` line and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


class UsageError(Exception):
    """Input the user can fix; printed as one line, exit code 2."""


def _cmd_env(_args: argparse.Namespace) -> int:
    from .env import checklist, format_checklist, report

    print(report())
    print()
    checks = checklist()
    print(format_checklist(checks))
    return 0 if all(c.ok for c in checks) else 1


def _pipeline(args: argparse.Namespace):
    from .models import load_pipeline
    from .schedulers import canonical, set_scheduler

    name = canonical(args.scheduler) if args.scheduler else None  # fail before loading
    pipe = load_pipeline(args.model, device=args.device)
    return set_scheduler(pipe, name) if name else pipe


def _cmd_generate(args: argparse.Namespace) -> int:
    from .generate import check_prompt, check_size, generate

    check_prompt(args.prompt)
    check_size(args.size, args.size)
    pipe = _pipeline(args)
    image = generate(pipe, [args.prompt], args.seed, steps=args.steps, guidance=args.guidance,
                     negative_prompt=args.negative_prompt, height=args.size, width=args.size)[0]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    image.save(args.out)
    print(args.out)
    return 0


def _cmd_judge(args: argparse.Namespace) -> int:
    from PIL import Image, UnidentifiedImageError

    from .judge import judge, parse_prompt

    try:
        with Image.open(args.image) as im:
            verdict = judge(im.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise UsageError(f"cannot read image {args.image}: {exc}") from None
    out: dict = {"attributes": verdict.attributes,
                 "confidence": {k: round(v, 3) for k, v in verdict.confidence.items()}}
    if args.prompt is not None:
        expect = parse_prompt(args.prompt)
        if not expect:
            raise UsageError("the prompt names no attribute the judge knows "
                             "(shape, colour, position, size, background)")
        out["expect"] = expect
        out["match"] = {k: verdict.attributes.get(k) == v for k, v in expect.items()}
        out["all_correct"] = all(out["match"].values())
    print(json.dumps(out, ensure_ascii=False))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .generate import evaluate, read_prompts

    items = read_prompts(args.prompts)
    pipe = _pipeline(args)
    result = evaluate(pipe, items, args.seed, steps=args.steps, guidance=args.guidance,
                      batch_size=args.batch_size, progress=True, fid=args.fid)
    result["model"] = args.model
    print(json.dumps(result, ensure_ascii=False))
    return 0


def _cmd_speed(args: argparse.Namespace) -> int:
    from .generate import time_generation

    pipe = _pipeline(args)
    result = time_generation(pipe, args.images, args.steps, args.repeats, args.guidance)
    result.update(model=args.model, scheduler=type(pipe.scheduler).__name__)
    print(json.dumps(result))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from . import bench
    from .benchmarks import bench_sd15, bench_toy

    kind = args.device.split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda needs an NVIDIA GPU with a CUDA build of torch; "
                         "this machine has none (use --device cpu)")
    if kind == "cuda":
        result = bench_sd15(args.device, steps=args.steps or 50, repeats=args.repeats,
                            compile=args.compile)
    elif kind == "cpu":
        result = bench_toy(args.model, "cpu", steps=args.steps or 25, repeats=args.repeats,
                           n_quality=args.quality_prompts, compile=args.compile)
    else:
        raise UsageError(f"unknown --device {args.device!r}: use cpu or cuda")
    path = bench.save(f"bench_{kind}", result)
    table = bench.write_summary()
    print(f"saved {path} and {table}", file=sys.stderr)
    print(json.dumps(result, ensure_ascii=False))
    return 0


def _cmd_prompts(args: argparse.Namespace) -> int:
    from .promptsets import prompt_items, write_jsonl

    scenes = None
    if args.same_scenes:
        from .generate import read_prompts

        scenes = [item["expect"] for item in read_prompts(args.same_scenes)]
    items = prompt_items(args.n, args.seed, args.lang, args.phrasing, scenes=scenes)
    if args.out:
        print(write_jsonl(items, args.out))
    else:
        for item in items:
            print(json.dumps(item, ensure_ascii=False))
    return 0


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="toy", help="'toy', a local folder or a Hub id")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--guidance", type=float, default=7.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scheduler", default=None, help="e.g. euler, dpm++2m (default: the model's)")
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for all sub-commands."""
    parser = argparse.ArgumentParser(prog="python -m recipes",
                                     description="diffusers-recipes-zh command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("env", help="environment report and setup checklist").set_defaults(
        func=_cmd_env)

    gen = sub.add_parser("generate", help="generate one image")
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--negative-prompt", default=None)
    gen.add_argument("--size", type=int, default=64, help="height = width in pixels")
    gen.add_argument("--out", default="out.png")
    _add_model_args(gen)
    gen.set_defaults(func=_cmd_generate)

    jud = sub.add_parser("judge", help="read shape/colour/position/size/background from an image")
    jud.add_argument("image")
    jud.add_argument("--prompt", default=None, help="also report which attributes match it")
    jud.set_defaults(func=_cmd_judge)

    ev = sub.add_parser("evaluate", help="judge accuracy over a JSONL prompt file")
    ev.add_argument("--prompts", required=True, help='JSONL: {"prompt": ..., "expect": {...}}')
    ev.add_argument("--batch-size", type=int, default=16)
    ev.add_argument("--fid", action="store_true",
                    help="also report FID against renders of the true scenes (toy-CLIP features)")
    _add_model_args(ev)
    ev.set_defaults(func=_cmd_evaluate)

    sp = sub.add_parser("speed", help="median time of one call making N images")
    sp.add_argument("--images", type=int, default=4)
    sp.add_argument("--repeats", type=int, default=5)
    _add_model_args(sp)
    sp.set_defaults(func=_cmd_speed)

    be = sub.add_parser("bench", help="default pipeline vs fast_preset (time, memory, accuracy)")
    be.add_argument("--device", default="cpu", help="cpu: toy model; cuda: SD-1.5 shapes")
    be.add_argument("--model", default="toy", help="pipeline for --device cpu")
    be.add_argument("--steps", type=int, default=None, help="default 25 on cpu, 50 on cuda")
    be.add_argument("--repeats", type=int, default=5)
    be.add_argument("--quality-prompts", type=int, default=48,
                    help="prompts judged for the accuracy check (cpu)")
    be.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True,
                    help="torch.compile in the fast preset (default: on; its first-call cost "
                         "is reported separately)")
    be.set_defaults(func=_cmd_bench)

    pr = sub.add_parser("prompts", help="write an evaluation prompt set (JSONL) with known answers")
    pr.add_argument("--n", type=int, default=300)
    pr.add_argument("--seed", type=int, default=0)
    pr.add_argument("--lang", choices=("en", "zh"), default="en")
    pr.add_argument("--phrasing", choices=("templates", "unseen_order", "unseen_words"),
                    default="templates")
    pr.add_argument("--same-scenes", default=None, metavar="JSONL",
                    help="describe the scenes of this prompt file instead of drawing new ones")
    pr.add_argument("--out", default=None, help="file to write (default: stdout)")
    pr.set_defaults(func=_cmd_prompts)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run one sub-command; returns the process exit code."""
    from .models import ModelNotAvailable

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, ValueError, ModelNotAvailable, FileNotFoundError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, FileNotFoundError) and exc.filename:
            message = f"file not found: {exc.filename}"
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
