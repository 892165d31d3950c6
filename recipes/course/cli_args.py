"""What every command-line entry point shares: the usage error and the model options."""

from __future__ import annotations

import argparse


class UsageError(Exception):
    """Input the user can fix; printed as one line, exit code 2."""


def add_model_args(p: argparse.ArgumentParser) -> None:
    """Options shared by every command that loads a pipeline."""
    p.add_argument("--model", default="toy", help="'toy', a local folder or a Hub id")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--guidance", type=float, default=7.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scheduler", default=None, help="e.g. euler, dpm++2m (default: the model's)")
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")


def load_pipeline_from_args(args: argparse.Namespace):
    """Load ``args.model`` on ``args.device`` with ``args.scheduler`` (checked before loading)."""
    from recipes.pipelines.models import load_pipeline
    from recipes.pipelines.schedulers import canonical, set_scheduler

    name = canonical(args.scheduler) if args.scheduler else None  # fail before loading
    pipe = load_pipeline(args.model, device=args.device)
    return set_scheduler(pipe, name) if name else pipe
