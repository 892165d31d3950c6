"""``python -m recipes env``: the environment report and setup checklist."""

from __future__ import annotations

import argparse


def _cmd_env(_args: argparse.Namespace) -> int:
    from recipes.course.env import checklist, format_checklist, report

    print(report())
    print()
    checks = checklist()
    print(format_checklist(checks))
    return 0 if all(c.ok for c in checks) else 1


def register(sub) -> None:
    """Add the ``env`` command."""
    from recipes.course.cli_args import HelpFormatter

    sub.add_parser(
        "env", help="environment report and setup checklist", formatter_class=HelpFormatter,
        description="Print versions, device, dtypes, Hugging Face settings and a checklist "
                    "where every failed item says how to fix it (exit 1 if any fails).",
        epilog="example:\n  python -m recipes env").set_defaults(func=_cmd_env)
