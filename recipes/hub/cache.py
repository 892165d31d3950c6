"""Looking at a Hugging Face cache folder: a tree with its symlinks, sizes counting blobs once."""

from __future__ import annotations

import hashlib
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


def blob_problems(repo_cache: str | Path) -> list[str]:
    """Check every blob of one cached repo against its own name, offline; one line per bad blob.

    In the hub cache a blob is named after its ETag: the SHA-256 of the content
    for LFS/Xet files (64 hex digits) and the git blob SHA-1 for small files
    (40 hex digits). So the cache can be checked without any server. Each
    problem line names the files that use the blob and the call that repairs it.
    """
    repo_cache = Path(repo_cache)
    users: dict[str, list[str]] = {}
    for snap in sorted((repo_cache / "snapshots").glob("*")):
        for link in snap.rglob("*"):
            if link.is_symlink():
                users.setdefault(Path(os.readlink(link)).name, []).append(
                    f"{link.relative_to(snap)}@{snap.name[:8]}")
    problems = []
    for blob in sorted((repo_cache / "blobs").glob("*")):
        if blob.name.endswith(".incomplete"):
            continue
        data = blob.read_bytes()
        if len(blob.name) == 64:
            actual = hashlib.sha256(data).hexdigest()
        else:
            actual = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 (git's id)
        if actual != blob.name:
            files = ", ".join(users.get(blob.name, ["(no snapshot uses it)"]))
            problems.append(f"corrupt blob {blob.name[:12]}… ({len(data):,} B) used by {files}: "
                            "re-download it with hf_hub_download(..., force_download=True)")
    return problems
