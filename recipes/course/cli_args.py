"""What every command-line entry point shares: the usage error and the model options."""

from __future__ import annotations

import argparse


class UsageError(Exception):
    """Input the user can fix; printed as one line, exit code 2."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter,
                    argparse.RawDescriptionHelpFormatter):
    """Shows each option's default and keeps the examples in the epilog as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default is None or action.required or "default" in text:
            return text  # "(default: None)" tells nobody anything
        return super()._get_help_string(action)


def add_model_args(p: argparse.ArgumentParser, adapter_guidance: bool = False) -> None:
    """Options shared by every command that loads a pipeline.

    ``adapter_guidance=True`` (commands with ``--lora``): ``--guidance`` defaults to
    None, filled by ``recipes.lora.load.settle_guidance`` once the adapters are known.
    """
    from recipes.pipelines.request import MAX_GUIDANCE, MAX_STEPS

    p.add_argument("--model", default="toy",
                   help="'toy', 'toy-zh', a local pipeline folder or a Hub id (org/name)")
    p.add_argument("--steps", type=int, default=25,
                   help=f"denoising steps, 1 to {MAX_STEPS}")
    p.add_argument("--guidance", type=float, default=None if adapter_guidance else 7.5,
                   help=f"classifier-free guidance scale, 0 to {MAX_GUIDANCE:g}; "
                        "1 or less turns guidance off (one UNet pass per step)"
                        + (" (default: 7.5, or the scale a loaded adapter's guidance.json "
                           "recommends)" if adapter_guidance else ""))
    p.add_argument("--seed", type=int, default=0,
                   help="random seed; image i uses seed + i, so results repeat exactly")
    p.add_argument("--scheduler", default=None,
                   help="scheduler name, e.g. euler, dpm++2m, unipc (default: the model's own)")
    p.add_argument("--device", default=None,
                   help="cpu, cuda or mps (default: the best available)")


def check_request(args: argparse.Namespace, prompts: list[str], *, size: int | None = None,
                  negative_prompt: str | None = None) -> None:
    """Validate the prompts and shared options before any weights load (``RequestError``).

    The token budget uses the model's tokenizer when it is local (short names and
    folders); a Hub id is checked after loading by ``generate``.
    """
    from recipes.pipelines.request import (
        GenerationRequest,
        RequestError,
        model_tokenizer,
        problems,
    )

    side = size if size is not None else 64
    base = dict(negative_prompt=negative_prompt, steps=args.steps, guidance=args.guidance,
                seed=args.seed, height=side, width=side, scheduler=args.scheduler,
                model=args.model)
    tokenizer = model_tokenizer(args.model)  # also rejects unknown models before loading
    found = []
    for i, prompt in enumerate(prompts):
        for problem in problems(GenerationRequest(prompt, **base), tokenizer=tokenizer):
            if problem not in found and (problem.field != "prompt" or len(prompts) == 1):
                found.append(problem)
            elif problem.field == "prompt":
                found.append(type(problem)(problem.field, f"prompt {i + 1}: {problem.en}",
                                           f"第 {i + 1} 条提示词：{problem.zh}"))
    if found:
        raise RequestError(found)


def load_pipeline_from_args(args: argparse.Namespace):
    """Load ``args.model`` on ``args.device`` with ``args.scheduler`` (checked before loading)."""
    from recipes.pipelines.models import load_pipeline
    from recipes.pipelines.schedulers import canonical, set_scheduler

    name = canonical(args.scheduler) if args.scheduler else None  # fail before loading
    pipe = load_pipeline(args.model, device=args.device)
    return set_scheduler(pipe, name) if name else pipe
