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
    sub.add_parser("env", help="environment report and setup checklist").set_defaults(
        func=_cmd_env)
