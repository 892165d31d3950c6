"""``python -m recipes generate`` and ``speed``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from recipes.course.cli_args import add_model_args, load_pipeline_from_args


def _cmd_generate(args: argparse.Namespace) -> int:
    from recipes.pipelines.generate import check_prompt, check_size, generate

    check_prompt(args.prompt)
    check_size(args.size, args.size)
    pipe = load_pipeline_from_args(args)
    image = generate(pipe, [args.prompt], args.seed, steps=args.steps, guidance=args.guidance,
                     negative_prompt=args.negative_prompt, height=args.size, width=args.size)[0]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    image.save(args.out)
    print(args.out)
    return 0


def _cmd_speed(args: argparse.Namespace) -> int:
    from recipes.pipelines.generate import time_generation

    pipe = load_pipeline_from_args(args)
    result = time_generation(pipe, args.images, args.steps, args.repeats, args.guidance)
    result.update(model=args.model, scheduler=type(pipe.scheduler).__name__)
    print(json.dumps(result))
    return 0


def register(sub) -> None:
    """Add the ``generate`` and ``speed`` commands."""
    gen = sub.add_parser("generate", help="generate one image")
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--negative-prompt", default=None)
    gen.add_argument("--size", type=int, default=64, help="height = width in pixels")
    gen.add_argument("--out", default="out.png")
    add_model_args(gen)
    gen.set_defaults(func=_cmd_generate)

    sp = sub.add_parser("speed", help="median time of one call making N images")
    sp.add_argument("--images", type=int, default=4)
    sp.add_argument("--repeats", type=int, default=5)
    add_model_args(sp)
    sp.set_defaults(func=_cmd_speed)
