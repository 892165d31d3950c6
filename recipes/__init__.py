"""Shared helpers for the diffusers-recipes-zh notebooks.

Only what is *not* the lesson lives here: the environment report, run-size
profiles, Chinese fonts for plots, and (in later modules) the toy world, its
judge, loading with clear errors and benchmarking.
"""

from . import quiet
from .env import checklist, format_checklist, pick_device, pick_dtype, report
from .fonts import setup_cjk_fonts
from .profiles import Profile, profile

__all__ = [
    "Profile",
    "checklist",
    "format_checklist",
    "pick_device",
    "pick_dtype",
    "profile",
    "report",
    "setup_cjk_fonts",
]
__version__ = "0.1.0"

quiet.install()
