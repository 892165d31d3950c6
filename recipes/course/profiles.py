"""Run-size profiles: how big the demos in each notebook are.

Notebooks never ask "am I in CI?"; they ask ``profile()`` for their sizes.
"quick" keeps a notebook to a minute or two on a laptop CPU (CI, Binder);
"full" is for a GPU, where the same cells run at teaching-grade sizes.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace

ENV_VAR = "RECIPES_PROFILE"


@dataclass(frozen=True)
class Profile:
    """Sizes a notebook uses; every field is an int so cells can use it directly.

    ``steps`` is the number of denoising steps for demos, ``n_images`` the images
    per visual comparison, ``n_eval`` the prompts scored by the judge when a
    notebook measures accuracy, ``repeats`` the timing repeats (median reported),
    ``train_steps`` the optimiser steps of live training demos and ``batch_size``
    their batch size.
    """

    name: str
    steps: int
    n_images: int
    n_eval: int
    repeats: int
    train_steps: int
    batch_size: int

    def as_dict(self) -> dict[str, int | str]:
        """Return the profile as a plain dict (for printing and JSON)."""
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "quick": Profile("quick", steps=20, n_images=8, n_eval=24, repeats=3,
                     train_steps=200, batch_size=16),
    "full": Profile("full", steps=50, n_images=32, n_eval=300, repeats=10,
                    train_steps=5000, batch_size=64),
}


def _gpu_present() -> bool:
    try:
        import torch
    except ImportError:  # the profile must work before torch is installed
        return False
    return bool(torch.cuda.is_available())


def profile(name: str | None = None, **overrides: int) -> Profile:
    """Return the active run-size profile.

    The name comes from the argument, else the ``RECIPES_PROFILE`` environment
    variable, else "full" when a CUDA GPU is present and "quick" otherwise.
    Keyword overrides replace single fields (``profile(steps=10)``). An unknown
    name raises ``ValueError`` listing the valid choices.
    """
    source = "argument"
    if name is None:
        name = os.environ.get(ENV_VAR, "").strip() or None
        source = f"environment variable {ENV_VAR}"
    if name is None:
        name = "full" if _gpu_present() else "quick"
    key = name.strip().lower()
    if key not in PROFILES:
        choices = ", ".join(PROFILES)
        raise ValueError(f"Unknown profile {name!r} (from {source}); choose one of: {choices}")
    chosen = PROFILES[key]
    unknown = set(overrides) - set(chosen.as_dict())
    if unknown:
        raise TypeError(f"Unknown profile field(s): {', '.join(sorted(unknown))}")
    return replace(chosen, **overrides) if overrides else chosen
