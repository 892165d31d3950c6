"""Command line: ``python -m recipes <command>``; ``--help`` on any command lists its options.

Each command lives beside its feature in a ``cli.py`` with a ``register(sub)``
function (``recipes/pipelines/cli.py`` has ``generate`` and ``speed`` ...); this
module only collects them and turns bad input into one ``error:`` line and exit
code 2. Options shared by several commands are in ``recipes/course/cli_args.py``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from recipes.course.cli_args import UsageError

# Feature modules that add sub-commands, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "recipes.course.cli",      # env
    "recipes.pipelines.cli",   # generate, speed
    "recipes.toy.cli",         # judge, prompts
    "recipes.evaluation.cli",  # evaluate, monitor
    "recipes.perf.cli",        # bench
    "recipes.serving.cli",     # serve
    "recipes.hub.cli",         # mirror
    "recipes.distributed.cli",  # generate-many
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for all sub-commands."""
    from recipes.course.cli_args import HelpFormatter

    parser = argparse.ArgumentParser(
        prog="python -m recipes", formatter_class=HelpFormatter,
        description="diffusers-recipes-zh command line; `python -m recipes COMMAND --help` "
                    "describes each command's options",
        epilog="example:\n  python -m recipes generate --model toy "
               "--prompt 'a large red circle on the left' --out red.png")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run one sub-command; returns the process exit code."""
    from recipes.pipelines.models import ModelNotAvailable

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, ValueError, ModelNotAvailable, FileNotFoundError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, FileNotFoundError) and exc.filename:
            message = f"file not found: {exc.filename}"
        print(f"error: {message}", file=sys.stderr)
        return 2
