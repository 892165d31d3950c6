"""``python -m recipes evaluate``: judge accuracy (and FID) over a JSONL prompt file."""

from __future__ import annotations

import argparse
import json

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
    check_request(args, [it["prompt"] for it in items])
    pipe = load_pipeline_from_args(args)
    result = evaluate(pipe, items, args.seed, steps=args.steps, guidance=args.guidance,
                      batch_size=args.batch_size, progress=True, fid=args.fid)
    result["model"] = args.model
    print(json.dumps(result, ensure_ascii=False))
    return 0


def register(sub) -> None:
    """Add the ``evaluate`` command."""
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
    add_model_args(ev)
    ev.set_defaults(func=_cmd_evaluate)
