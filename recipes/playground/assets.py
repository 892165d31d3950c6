"""Find the optional assets other chapters ship: LoRA adapters (ch. 06) and ControlNets (ch. 05).

The playground shows their controls only when the files are there, so it works on
a checkout that has only the toy models. Detection looks at files, never imports
those chapters' code: a LoRA is a folder with ``pytorch_lora_weights.safetensors``
(the diffusers layout) or ``adapter_config.json`` + ``adapter_model.safetensors``
(the peft layout); a ControlNet is a folder whose ``config.json`` names
``ControlNetModel`` next to a safetensors file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from recipes.toy.model import ASSETS

DIFFUSERS_LORA = "pytorch_lora_weights.safetensors"
PEFT_LORA = ("adapter_config.json", "adapter_model.safetensors")


@dataclass(frozen=True)
class LoraAsset:
    """One shipped LoRA adapter: its ``name`` (folder name), ``path`` and ``layout``."""

    name: str
    path: Path
    layout: str  # "diffusers" or "peft"


def recommended_guidance(asset: LoraAsset) -> float | None:
    """The guidance scale the adapter's ``guidance.json`` recommends (chapter 06), if readable."""
    try:
        value = float(json.loads((asset.path / "guidance.json").read_text(encoding="utf-8"))
                      ["recommended"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if 0 <= value <= 50 else None


def _folders(root: Path, depth: int = 2) -> list[Path]:
    """Sub-folders of ``root`` up to ``depth`` levels (assets are shallow), sorted."""
    if not root.is_dir():
        return []
    found, frontier = [], [root]
    for _ in range(depth):
        frontier = sorted(p for f in frontier for p in f.iterdir() if p.is_dir())
        found.extend(frontier)
    return found


def find_loras(root: Path | str = ASSETS) -> list[LoraAsset]:
    """LoRA adapters under ``root`` (default ``recipes/assets``), in either layout."""
    out = []
    for folder in _folders(Path(root)):
        if (folder / DIFFUSERS_LORA).is_file():
            out.append(LoraAsset(folder.name, folder, "diffusers"))
        elif all((folder / f).is_file() for f in PEFT_LORA):
            out.append(LoraAsset(folder.name, folder, "peft"))
    return sorted(out, key=lambda a: a.name)


def find_controlnets(root: Path | str = ASSETS) -> list[Path]:
    """ControlNet model folders under ``root`` (a ``ControlNetModel`` config + safetensors)."""
    out = []
    for folder in _folders(Path(root)):
        config = folder / "config.json"
        if not config.is_file() or not any(folder.glob("*.safetensors")):
            continue
        try:
            name = json.loads(config.read_text(encoding="utf-8")).get("_class_name", "")
        except (OSError, ValueError, AttributeError):
            continue
        if name == "ControlNetModel":
            out.append(folder)
    return out
