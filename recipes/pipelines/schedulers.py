"""Short scheduler names → diffusers classes and settings, with a clear error for typos.

Swapping is always ``Cls.from_config(pipe.scheduler.config, **extra)``: the
new scheduler inherits the noise schedule the model was trained with.
"""

from __future__ import annotations

import diffusers

# name: (class name, extra config). Chinese aliases map onto the same entries.
SCHEDULERS: dict[str, tuple[str, dict]] = {
    "ddpm": ("DDPMScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "pndm": ("PNDMScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "dpm++2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "dpm++2m_karras": ("DPMSolverMultistepScheduler",
                       {"algorithm_type": "dpmsolver++", "use_karras_sigmas": True}),
    "unipc": ("UniPCMultistepScheduler", {}),
    "deis": ("DEISMultistepScheduler", {}),
    # few-step sampling: only with an LCM LoRA (or LCM-distilled UNet), guidance ~1, 2-8 steps
    "lcm": ("LCMScheduler", {}),
}
ALIASES: dict[str, str] = {
    "euler_ancestral": "euler_a", "euler-ancestral": "euler_a", "dpmsolver++": "dpm++2m",
    "dpm++_2m": "dpm++2m", "dpm++2m-karras": "dpm++2m_karras",
    "欧拉": "euler", "欧拉祖先": "euler_a", "祖先欧拉": "euler_a",
}


def canonical(name: str) -> str:
    """Return the registry key for ``name`` (case-insensitive, aliases allowed)."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in SCHEDULERS:
        raise ValueError(f"Unknown scheduler {name!r}; choose one of: {', '.join(SCHEDULERS)}")
    return key


def make_scheduler(name: str, config):
    """Build the scheduler ``name`` from an existing scheduler's ``config``."""
    cls_name, extra = SCHEDULERS[canonical(name)]
    return getattr(diffusers, cls_name).from_config(config, **extra)


def set_scheduler(pipe, name: str):
    """Replace ``pipe.scheduler`` with ``name``, keeping the noise schedule; returns pipe."""
    pipe.scheduler = make_scheduler(name, pipe.scheduler.config)
    return pipe
