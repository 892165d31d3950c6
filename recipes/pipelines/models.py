"""Load a pipeline by short name ("toy"), local folder or Hub id, with errors that say what to do.

One code path for all three: every case ends in ``from_pretrained`` with
safetensors only, so the notebooks work the same on the toy model offline and
on a real model with a GPU and network.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from recipes.toy.model import ASSETS

# Short names for the course's own models: the English toy SD and its Chinese-aligned
# twin (chapter 04: same UNet and VAE, a distilled Chinese text encoder).
SHORT_NAMES = {"toy": ASSETS / "toy", "toy-zh": ASSETS / "toy-zh"}
MAKE_TARGET = {"toy": "make toy-model", "toy-zh": "make toy-model-zh"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ModelNotAvailable(RuntimeError):
    """The model cannot be loaded here; the message says how to get it."""


def resolve(name_or_path: str | Path) -> str:
    """Map a short name, folder or Hub id to what ``from_pretrained`` should receive.

    Raises ``ModelNotAvailable`` for a short name whose weights are missing or
    a folder without ``model_index.json``, and ``ValueError`` for a name that
    is none of the three, listing the accepted forms.
    """
    text = str(name_or_path).strip()
    if not text:
        raise ValueError("Empty model name: use 'toy', a local folder, or a Hub id like org/name.")
    if text in SHORT_NAMES:
        folder = SHORT_NAMES[text]
        if not (folder / "model_index.json").is_file():
            raise ModelNotAvailable(
                f"The {text!r} weights are not in {folder}; run `{MAKE_TARGET[text]}` "
                "(or `git checkout -- recipes/assets`) to restore them.")
        return str(folder)
    path = Path(text).expanduser()
    if path.exists():
        if not (path / "model_index.json").is_file():
            raise ModelNotAvailable(
                f"{path} is not a diffusers pipeline folder (no model_index.json); "
                "save one with pipe.save_pretrained(folder) or download it with `hf download`.")
        return str(path)
    if _HUB_ID.match(text):
        return text
    choices = ", ".join(repr(k) for k in SHORT_NAMES)
    raise ValueError(f"Unknown model {text!r}: use one of {choices}, an existing folder, "
                     "or a Hub id like 'stable-diffusion-v1-5/stable-diffusion-v1-5'.")


def load_pipeline(name_or_path: str | Path = "toy", *, device: str | None = None,
                  dtype: torch.dtype | None = None, pipeline_class=None, progress: bool = False,
                  **kwargs):
    """Load a text-to-image pipeline and move it to ``device`` in ``dtype``.

    ``name_or_path`` is a short name ("toy"), a local folder, or a Hub id. Device
    and dtype default to ``pick_device()`` / ``pick_dtype()``. Only
    safetensors weights are accepted. A Hub model that is not cached while
    offline raises ``ModelNotAvailable`` naming the three ways out (mirror,
    local folder, or "toy"). Extra keyword arguments go to ``from_pretrained``.
    """
    from diffusers import StableDiffusionPipeline
    from huggingface_hub.errors import HfHubHTTPError

    from recipes.course.device import pick_device, pick_dtype
    from recipes.course.quiet import loading_bars

    loading_bars(progress)
    source = resolve(name_or_path)
    device = device or pick_device()
    dtype = dtype or pick_dtype(device)
    cls = pipeline_class or StableDiffusionPipeline
    try:
        pipe = cls.from_pretrained(source, dtype=dtype, use_safetensors=True, **kwargs)
    except (OSError, HfHubHTTPError, ValueError) as exc:
        raise _explain(str(name_or_path), source, exc) from exc
    pipe.set_progress_bar_config(disable=not progress)
    return pipe.to(device)


def _explain(name: str, source: str, exc: Exception) -> Exception:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if Path(source).exists():
        if "safetensors" in first.lower() or "header" in first.lower():
            return ModelNotAvailable(
                f"Could not read the weights in {source} ({first}); the file looks corrupted or "
                "is not safetensors: restore or re-download it.")
        return ModelNotAvailable(f"Could not load {source}: {first}")
    return ModelNotAvailable(
        f"Model {name!r} is not in the local cache and could not be downloaded ({first}). "
        "Fix: set HF_ENDPOINT to a mirror (e.g. https://hf-mirror.com) with network access; or "
        f"download it elsewhere (`hf download {name} --local-dir DIR`) and pass DIR; "
        "or use 'toy'.")
