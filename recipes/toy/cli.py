"""``python -m recipes judge`` and ``prompts``: the toy world's judge and prompt sets."""

from __future__ import annotations

import argparse
import json

from recipes.course.cli_args import HelpFormatter, UsageError


def _cmd_judge(args: argparse.Namespace) -> int:
    from PIL import Image, UnidentifiedImageError

    from recipes.toy.judge import judge
    from recipes.toy.parse import parse_prompt

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


def _cmd_prompts(args: argparse.Namespace) -> int:
    from recipes.toy.promptsets import prompt_items, write_jsonl

    scenes = None
    if args.same_scenes:
        from recipes.evaluation.evaluate import read_prompts

        scenes = [item["expect"] for item in read_prompts(args.same_scenes)]
    try:
        items = prompt_items(args.n, args.seed, args.lang, args.phrasing, scenes=scenes)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.out:
        print(write_jsonl(items, args.out))
    else:
        for item in items:
            print(json.dumps(item, ensure_ascii=False))
    return 0


def register(sub) -> None:
    """Add the ``judge`` and ``prompts`` commands."""
    jud = sub.add_parser(
        "judge", help="read shape/colour/position/size/background from an image",
        formatter_class=HelpFormatter,
        description="Read a toy-world image's attributes from its pixels (no model needed); "
                    "with --prompt, also say which of the prompt's attributes match.",
        epilog="example:\n  python -m recipes judge red.png --prompt 'a large red circle'")
    jud.add_argument("image", help="image file (PNG/JPEG) to read")
    jud.add_argument("--prompt", default=None, help="also report which attributes match it")
    jud.set_defaults(func=_cmd_judge)

    pr = sub.add_parser(
        "prompts", help="write an evaluation prompt set (JSONL) with known answers",
        formatter_class=HelpFormatter,
        description="Draw random toy-world scenes and describe each one; every line carries "
                    "the attributes the judge should find (for `evaluate`).",
        epilog="example:\n  python -m recipes prompts --lang zh --n 100 --out zh.jsonl")
    pr.add_argument("--n", type=int, default=300, help="number of prompts")
    pr.add_argument("--seed", type=int, default=0, help="seed: the same seed gives the same set")
    pr.add_argument("--lang", choices=("en", "zh"), default="en", help="prompt language")
    from recipes.toy.promptsets import PHRASINGS

    pr.add_argument("--phrasing", choices=PHRASINGS, default="templates",
                    help="training templates, or word orders / synonyms / free English "
                         "grammar (English only) training never saw (default: templates)")
    pr.add_argument("--same-scenes", default=None, metavar="JSONL",
                    help="describe the scenes of this prompt file instead of drawing new ones")
    pr.add_argument("--out", default=None, help="file to write (default: stdout)")
    pr.set_defaults(func=_cmd_prompts)
