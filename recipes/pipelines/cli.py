"""``python -m recipes generate`` and ``speed``."""

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


def _cmd_generate(args: argparse.Namespace) -> int:
    import os
    import tempfile

    from recipes.course.cli_args import UsageError
    from recipes.pipelines.generate import generate

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
        raise UsageError(f"--out {args.out!r}: use a .png, .jpg or .webp file name")
    from recipes.lora.load import apply_loras, resolve_specs, settle_guidance
    loras = resolve_specs(args.lora)  # bad --lora: one line, before the model loads
    settle_guidance(args, loras)  # no --guidance: what the adapters recommend, else 7.5
    check_request(args, [args.prompt], size=args.size, negative_prompt=args.negative_prompt)
    from recipes.controlnet.control import check_control, controlled
    control = check_control(args, args.size)  # bad --control: one line, before loading
    pipe = apply_loras(load_pipeline_from_args(args), loras, fuse=True)
    pipe = controlled(pipe, control) if control else pipe
    image = generate(pipe, [args.prompt], args.seed, steps=args.steps, guidance=args.guidance,
                     negative_prompt=args.negative_prompt, height=args.size, width=args.size,
                     extra=control.pipe_kwargs() if control else None)[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target, then rename: an interrupted run never leaves half a file.
    fd, tmp = tempfile.mkstemp(suffix=out.suffix, dir=out.parent, prefix=f".{out.name}.")
    os.close(fd)
    try:
        image.save(tmp)  # format from the suffix
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    print(out)
    return 0


def _cmd_speed(args: argparse.Namespace) -> int:
    from recipes.course.cli_args import UsageError
    from recipes.pipelines.generate import time_generation

    for name, value, low in (("--images", args.images, 1), ("--repeats", args.repeats, 1)):
        if not low <= value <= 64:
            raise UsageError(f"{name} must be from {low} to 64, got {value}")
    check_request(args, ["a large red circle on the left, white background"])
    pipe = load_pipeline_from_args(args)
    result = time_generation(pipe, args.images, args.steps, args.repeats, args.guidance)
    result.update(model=args.model, scheduler=type(pipe.scheduler).__name__)
    print(json.dumps(result))
    return 0


def register(sub) -> None:
    """Add the ``generate`` and ``speed`` commands."""
    gen = sub.add_parser(
        "generate", help="generate one image", formatter_class=HelpFormatter,
        description="Generate one image from a prompt (English; Chinese with --model toy-zh). "
                    "Every input is checked before the model loads; a bad one prints one "
                    "'error:' line and exits 2 without writing --out.",
        epilog="examples:\n"
               "  python -m recipes generate --prompt 'a large red circle on the left' "
               "--out red.png\n"
               "  python -m recipes generate --model toy-zh --prompt '黑色背景上一个蓝色三角形' "
               "--steps 20 --out blue.png")
    gen.add_argument("--prompt", required=True, help="what to draw (required)")
    gen.add_argument("--negative-prompt", default=None,
                     help="what to steer away from, e.g. 'blurry' (default: none)")
    gen.add_argument("--size", type=int, default=64,
                     help="height = width in pixels, a multiple of 8 (the toy model is trained "
                          "at 64)")
    gen.add_argument("--out", default="out.png", help="image file to write (.png/.jpg/.webp)")
    add_model_args(gen, adapter_guidance=True)
    from recipes.lora.load import add_lora_arg
    add_lora_arg(gen)
    from recipes.controlnet.control import add_control_args
    add_control_args(gen)
    gen.set_defaults(func=_cmd_generate)

    sp = sub.add_parser(
        "speed", help="median time of one call making N images", formatter_class=HelpFormatter,
        description="Time one pipeline call that makes --images images (after a warm-up); "
                    "prints JSON with the median, min and max seconds.",
        epilog="example:\n  python -m recipes speed --model toy --images 4 --steps 25")
    sp.add_argument("--images", type=int, default=4, help="images per call, 1 to 64")
    sp.add_argument("--repeats", type=int, default=5, help="timed calls (median), 1 to 64")
    add_model_args(sp)
    sp.set_defaults(func=_cmd_speed)
