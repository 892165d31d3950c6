"""Load a ControlNet by short name ("toy-canny"), local folder or Hub id, one code path.

Every case ends in ``ControlNetModel.from_pretrained`` with safetensors only,
so ``load_controlnet("toy-canny")`` offline and
``load_controlnet("lllyasviel/sd-controlnet-canny")`` on a GPU machine are the
same call; errors say what to do, as ``recipes.pipelines.models`` does for pipelines.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from recipes.toy.model import ASSETS

# Short name -> (folder, condition the ControlNet was trained on).
SHORT_NAMES: dict[str, tuple[Path, str]] = {
    "toy-canny": (ASSETS / "toy-canny", "canny"),
    "toy-region": (ASSETS / "toy-region", "region"),
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ControlNetNotAvailable(RuntimeError):
    """The ControlNet cannot be loaded here; the message says how to get it."""


def resolve_controlnet(name_or_path: str | Path) -> str:
    """Map a short name, folder or Hub id to what ``from_pretrained`` should receive.

    Raises ``ControlNetNotAvailable`` when a short name's weights are missing or a
    folder has no ``config.json``, and ``ValueError`` for text that is none of the three.
    """
    text = str(name_or_path).strip()
    if text in SHORT_NAMES:
        folder, kind = SHORT_NAMES[text]
        if not (folder / "config.json").is_file():
            raise ControlNetNotAvailable(
                f"The {text!r} weights are not in {folder}; run `make toy-controlnet"
                f"{'-region' if kind == 'region' else ''}` "
                "(or `git checkout -- recipes/assets`) to restore them.")
        return str(folder)
    path = Path(text).expanduser()
    if text and path.exists():
        if not (path / "config.json").is_file():
            raise ControlNetNotAvailable(
                f"{path} is not a ControlNet folder (no config.json); save one with "
                "controlnet.save_pretrained(folder).")
        return str(path)
    if _HUB_ID.match(text):
        return text
    names = ", ".join(repr(k) for k in SHORT_NAMES)
    raise ValueError(f"Unknown ControlNet {text!r}: use one of {names}, an existing folder, "
                     "or a Hub id like 'lllyasviel/sd-controlnet-canny'.")


def condition_of(name_or_path: str | Path) -> str | None:
    """The condition ("canny", "region") a course ControlNet expects, None when unknown."""
    entry = SHORT_NAMES.get(str(name_or_path).strip())
    if entry:
        return entry[1]
    return "canny" if "canny" in str(name_or_path).lower() else None


def load_controlnet(name_or_path: str | Path = "toy-canny", *, device: str | None = None,
                    dtype: torch.dtype | None = None):
    """Load a ``ControlNetModel`` (short name, folder or Hub id) onto ``device`` in ``dtype``.

    Device and dtype default to ``pick_device()`` / ``pick_dtype()``; the toy
    ControlNets are stored in fp16 and upcast on load when ``dtype`` is float32.
    A Hub id that is not cached while offline raises ``ControlNetNotAvailable``
    with the ways out (mirror, local folder, or a toy ControlNet).
    """
    from diffusers import ControlNetModel
    from huggingface_hub.errors import HfHubHTTPError

    from recipes.course.device import pick_device, pick_dtype

    source = resolve_controlnet(name_or_path)
    device = device or pick_device()
    dtype = dtype or pick_dtype(device)
    try:
        model = ControlNetModel.from_pretrained(source, dtype=dtype, use_safetensors=True)
    except (OSError, HfHubHTTPError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if Path(source).exists():
            raise ControlNetNotAvailable(f"Could not load {source}: {first}") from exc
        raise ControlNetNotAvailable(
            f"ControlNet {str(name_or_path)!r} is not in the local cache and could not be "
            f"downloaded ({first}). Fix: set HF_ENDPOINT to a mirror with network access; or "
            f"`hf download {name_or_path} --local-dir DIR` elsewhere and pass DIR; "
            "or use 'toy-canny'.") from exc
    return model.to(device).eval()
