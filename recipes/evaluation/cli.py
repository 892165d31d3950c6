"""``python -m recipes evaluate``: judge accuracy (and FID) over a JSONL prompt file."""

from __future__ import annotations

import argparse
import json

from recipes.course.cli_args import add_model_args, load_pipeline_from_args


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from recipes.evaluation.evaluate import evaluate, read_prompts

    items = read_prompts(args.prompts)
    pipe = load_pipeline_from_args(args)
    result = evaluate(pipe, items, args.seed, steps=args.steps, guidance=args.guidance,
                      batch_size=args.batch_size, progress=True, fid=args.fid)
    result["model"] = args.model
    print(json.dumps(result, ensure_ascii=False))
    return 0


def register(sub) -> None:
    """Add the ``evaluate`` command."""
    ev = sub.add_parser("evaluate", help="judge accuracy over a JSONL prompt file")
    ev.add_argument("--prompts", required=True, help='JSONL: {"prompt": ..., "expect": {...}}')
    ev.add_argument("--batch-size", type=int, default=16)
    ev.add_argument("--fid", action="store_true",
                    help="also report FID against renders of the true scenes (toy-CLIP features)")
    add_model_args(ev)
    ev.set_defaults(func=_cmd_evaluate)
