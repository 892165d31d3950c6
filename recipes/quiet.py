"""Narrow filters for warnings that are known to be harmless in this course.

Each filter matches one specific message and says why it is safe; nothing is
silenced wholesale, so a real problem still reaches the learner.
"""

from __future__ import annotations

import logging


class _DropMessage(logging.Filter):
    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.fragment = fragment

    def filter(self, record: logging.LogRecord) -> bool:
        return self.fragment not in record.getMessage()


def install() -> None:
    """Install the filters (idempotent)."""
    # transformers 5 warns on `import diffusers` that CLIPImageProcessor falls back
    # to its PIL backend without torchvision. The pipelines here never use the
    # image processor (no safety checker), and torchvision's PyPI wheel does not
    # match the CPU torch build, so the fallback is the right behaviour.
    logger = logging.getLogger("transformers.utils.import_utils")
    if not any(isinstance(f, _DropMessage) for f in logger.filters):
        logger.addFilter(_DropMessage("requires torchvision (not installed)"))
