"""Looking at a Hugging Face cache folder: a tree with its symlinks, sizes counting blobs once."""

from __future__ import annotations

import os
from pathlib import Path


def cache_tree(root: str | Path, max_entries: int = 40) -> str:
    """Return an indented listing of ``root`` with symlinks shown as ``name -> target``.

    Meant for the hub cache (``models--org--name/blobs|refs|snapshots``), where the
    files under ``snapshots/<commit>/`` are relative links into ``blobs/``. Blob
    names are shortened to 12 characters; at most ``max_entries`` lines are shown.
    """
    root = Path(root)
    lines: list[str] = [root.name + "/"]
    for path in sorted(root.rglob("*")):
        depth = len(path.relative_to(root).parts)
        name = path.name if len(path.name) < 40 else path.name[:12] + "…"
        if path.is_symlink():
            target = os.readlink(path)
            head, _, blob = target.rpartition("/")
            line = f"{name} -> {head}/{blob[:12]}…"
        elif path.is_dir():
            line = name + "/"
        else:
            line = f"{name}  ({path.stat().st_size:,} B)"
        lines.append("  " * depth + line)
    if len(lines) > max_entries:
        hidden = len(lines) - max_entries
        lines = lines[:max_entries] + [f"… ({hidden} more)"]
    return "\n".join(lines)


def disk_usage(root: str | Path) -> tuple[int, int]:
    """Return ``(bytes_on_disk, bytes_seen_through_links)`` for a folder.

    The first counts regular files once (what ``du`` reports); the second adds
    what every symlink points to, i.e. what a tool that follows links would count.
    For the hub cache the gap shows that snapshots cost nothing beyond their blobs.
    """
    real = through_links = 0
    for base, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(base, f)
            if os.path.islink(p):
                if os.path.exists(p):
                    through_links += os.path.getsize(p)
            else:
                real += os.path.getsize(p)
    return real, real + through_links
