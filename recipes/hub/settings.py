"""Hugging Face hub settings in force, and whether an endpoint (or mirror) answers."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path


def hf_settings() -> dict[str, object]:
    """Return the Hugging Face hub settings in force for this process.

    These are read by ``huggingface_hub`` when it is first imported, so
    ``HF_ENDPOINT``/``HF_HUB_OFFLINE`` must be set before importing diffusers.
    Never includes the token itself, only whether one is configured.
    """
    from huggingface_hub import constants

    cache = Path(constants.HF_HUB_CACHE)
    return {
        "HF_HOME": constants.HF_HOME,
        "HF_HUB_CACHE": str(cache),
        "cache_size_gb": round(_dir_size(cache) / 2**30, 3),
        "cached_repos": sorted(p.name for p in cache.glob("models--*")) if cache.is_dir() else [],
        "HF_ENDPOINT": constants.ENDPOINT,
        "endpoint_from_env": "HF_ENDPOINT" in os.environ,
        "offline": bool(constants.HF_HUB_OFFLINE),
        "token_configured": bool(os.environ.get("HF_TOKEN"))
        or Path(constants.HF_TOKEN_PATH).is_file(),
    }


def _dir_size(path: Path) -> int:
    if not path.is_dir():
        return 0
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            fp = os.path.join(root, f)
            if not os.path.islink(fp):  # the hub cache links snapshots to blobs
                total += os.path.getsize(fp)
    return total


def check_endpoint(endpoint: str | None = None, repo_id: str = "openai/clip-vit-base-patch32",
                   timeout: float = 5.0) -> tuple[bool, str]:
    """Check that a Hub endpoint (or mirror) answers, without downloading a model.

    Asks ``{endpoint}/api/models/{repo_id}`` with a short timeout. In offline
    mode it does not touch the network and says so. Returns ``(ok, message)``.
    """
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False, "offline mode (HF_HUB_OFFLINE=1): network check skipped"
    base = (endpoint or constants.ENDPOINT).rstrip("/")
    url = f"{base}/api/models/{repo_id}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
            return resp.status == 200, f"{base} answered HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{base} answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"{base} unreachable ({reason}); set HF_ENDPOINT to a mirror or work offline"
