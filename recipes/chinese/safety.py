"""A blocklist content filter for prompts: a first line of defence, not a guarantee.

Word lists miss paraphrases, and images can be unsafe from innocent prompts; for
deployment pair it with an image safety checker and human review.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from recipes.chinese.text import _CJK, _jieba, _require_text

# --- Content filter ----------------------------------------------------------------
DEFAULT_BLOCKLIST: dict[str, tuple[str, ...]] = {
    "violence": ("血腥", "暴力", "虐杀", "斩首", "肢解", "gore", "gory", "beheading",
                 "dismembered"),
    "sexual": ("色情", "裸体", "裸照", "淫秽", "nude", "naked", "porn", "pornographic",
               "nsfw"),
    "illegal": ("毒品", "吸毒", "冰毒", "海洛因", "cocaine", "heroin", "methamphetamine"),
}


class BlockedPrompt(ValueError):
    """Raised by ``ContentFilter.require``; ``matched`` lists the blocklist terms found."""

    def __init__(self, reason: str, matched: list[str]) -> None:
        super().__init__(reason)
        self.matched = matched


@dataclass
class FilterResult:
    """Outcome of ``ContentFilter.check``: ``ok``, a one-line ``reason``, the ``matched`` terms."""

    ok: bool
    reason: str
    matched: list[str] = field(default_factory=list)


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def load_blocklist(path: str | Path) -> list[str]:
    """Read blocklist terms from a UTF-8 text file: one per line, ``#`` starts a comment."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [t for t in (line.split("#", 1)[0].strip() for line in lines) if t]


class ContentFilter:
    """Blocklist filter for prompts: a first line of defence, not a guarantee.

    Word lists miss paraphrases, and images can be unsafe from innocent prompts,
    so for deployment pair it with an image safety checker and human review.
    Matching is case-insensitive, NFKC-normalised (full-width letters match) and,
    for Chinese terms, ignores spaces or punctuation inserted between characters
    ("色 情", "色-情"); a Chinese term must start or end on a jieba word boundary,
    so 景色情调 does not match 色情. English terms match whole words (plural s too).
    """

    def __init__(self, blocklist: Iterable[str] | Mapping[str, Iterable[str]] | None = None,
                 extra: Iterable[str] = ()) -> None:
        source = DEFAULT_BLOCKLIST if blocklist is None else blocklist
        source = [source] if isinstance(source, str) else source
        groups = source.items() if isinstance(source, Mapping) else [("custom", source)]
        self.categories = {_norm(t).strip(): cat for cat, terms in groups for t in terms}
        self.categories.update({_norm(t).strip(): "custom" for t in extra})
        self.categories.pop("", None)

    @classmethod
    def from_file(cls, path: str | Path, include_default: bool = True) -> ContentFilter:
        """Build a filter from a term file (see ``load_blocklist``), plus the defaults if asked."""
        return cls(None if include_default else [], extra=load_blocklist(path))

    def check(self, prompt: str) -> FilterResult:
        """Return whether ``prompt`` passes, with the matched terms and a one-line reason."""
        text = _norm(_require_text(prompt))
        squeezed = "".join(c for c in text if unicodedata.category(c)[0] in "LN")
        edges, pos = {0}, 0
        for token in _jieba().lcut(squeezed):
            pos += len(token)
            edges.add(pos)
        matched = []
        for term in self.categories:
            if _CJK.search(term):
                core = "".join(c for c in term if unicodedata.category(c)[0] in "LN")
                hit = any(m.start() in edges or m.start() + len(core) in edges
                          for m in re.finditer(re.escape(core), squeezed))
            else:
                # ASCII-only word edges: in "一个nude" the 个 before nude is a boundary.
                words = r"[\W_]+".join(re.escape(w) for w in term.split())
                hit = re.search(rf"(?<![a-z0-9]){words}(?:e?s)?(?![a-z0-9])", text)
            if hit:
                matched.append(term)
        if not matched:
            return FilterResult(True, "ok")
        names = ", ".join(f"{t!r} ({self.categories[t]})" for t in matched)
        return FilterResult(False, f"prompt blocked: matched {names}; the blocklist is "
                                   "configurable via ContentFilter(blocklist=..., extra=...)",
                            matched)

    def require(self, prompt: str) -> str:
        """Return ``prompt`` unchanged if it passes ``check``; otherwise raise ``BlockedPrompt``."""
        result = self.check(prompt)
        if not result.ok:
            raise BlockedPrompt(result.reason, result.matched)
        return prompt
