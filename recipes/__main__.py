"""Command line: ``python -m recipes <command>``."""

from __future__ import annotations

import argparse
import sys


def _cmd_env(_args: argparse.Namespace) -> int:
    from .env import checklist, format_checklist, report

    print(report())
    print()
    checks = checklist()
    print(format_checklist(checks))
    return 0 if all(c.ok for c in checks) else 1


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run one sub-command; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m recipes",
                                     description="diffusers-recipes-zh command line")
    sub = parser.add_subparsers(dest="command", required=True)
    env = sub.add_parser("env", help="print the environment report and the setup checklist")
    env.set_defaults(func=_cmd_env)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
