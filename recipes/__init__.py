"""Shared helpers for the diffusers-recipes-zh notebooks (map: ``recipes/README.md``).

Only what is *not* the lesson lives here, grouped by concern:

- ``recipes.course``     environment report, device/dtype, profiles, fonts, plots, quiet logs
- ``recipes.hub``        Hugging Face hub settings, endpoints, cache and mirrors (ch. 00, 10)
- ``recipes.toy``        the toy world, its judge, prompt sets, the toy models and their training
- ``recipes.pipelines``  loading with clear errors, schedulers, generation, request checks
- ``recipes.perf``       benchmarking and the fast preset (ch. 03)
- ``recipes.chinese``    Chinese prompt text, prompt makers, content filter (ch. 04)
- ``recipes.evaluation`` metrics and judge-based evaluation (ch. 09)
- ``recipes.cli``        ``python -m recipes <command>``; each command lives beside its feature

Notebooks keep their imports short: ``from recipes import judge, models, toyworld``
resolves the short names below to their modules on first use (nothing heavy is
imported until asked for).
"""

from __future__ import annotations

import importlib

from recipes.course import quiet
from recipes.course.device import pick_device, pick_dtype
from recipes.course.env import checklist, format_checklist, report
from recipes.course.fonts import setup_cjk_fonts
from recipes.course.profiles import Profile, profile

# Short names for the modules notebooks use most: ``from recipes import judge``.
SHORT_NAMES = {
    "device": "recipes.course.device",
    "env": "recipes.course.env",
    "fonts": "recipes.course.fonts",
    "plots": "recipes.course.plots",
    "profiles": "recipes.course.profiles",
    "toyworld": "recipes.toy.world",
    "captions": "recipes.toy.captions",
    "judge": "recipes.toy.judge",
    "promptsets": "recipes.toy.promptsets",
    "toymodel": "recipes.toy.model",
    "toyzh": "recipes.toy.zh",
    "models": "recipes.pipelines.models",
    "schedulers": "recipes.pipelines.schedulers",
    "bench": "recipes.perf.bench",
    "fast": "recipes.perf.fast",
    "metrics": "recipes.evaluation.metrics",
}


def __getattr__(name: str):
    if name in SHORT_NAMES:
        module = importlib.import_module(SHORT_NAMES[name])
        globals()[name] = module
        return module
    raise AttributeError(f"module 'recipes' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *SHORT_NAMES])


__all__ = [
    "Profile",
    "checklist",
    "format_checklist",
    "pick_device",
    "pick_dtype",
    "profile",
    "quiet",
    "report",
    "setup_cjk_fonts",
]
__version__ = "0.1.0"

quiet.install()
