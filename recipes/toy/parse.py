"""Read the attributes a prompt asks for (English or Chinese): the other half of the judge."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping

from recipes.toy import captions as tc

# --- Prompts -------------------------------------------------------------------
_CJK = re.compile(r"[\u4e00-\u9fff]")
# "上" after a background word is the preposition "on", not the position "top":
# 白色背景上左边 -> 白色背景左边; but 白底上方 keeps its 上方.
_ON_BG = re.compile(r"(背景|底|纸|画布|画面|图片|图)上(?![方面部边])")
# Words containing vocabulary characters that mean something else.
_STOP = {"大小", "左右", "上下", "以上", "以下", "一下", "上色", "画上", "底色"}
_tokenizer = None


def _jieba():
    """A private jieba tokenizer with the toy-world vocabulary, created once and quiet."""
    global _tokenizer
    if _tokenizer is None:
        import jieba

        jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict..." chatter
        tok = jieba.Tokenizer()  # private: do not change the global jieba dictionary
        for word in tc.keywords("zh"):
            tok.add_word(word, freq=100000)
        _tokenizer = tok
    return _tokenizer


@functools.cache
def _table() -> dict[str, tuple[str, str]]:
    return {**tc.keywords("en"), **tc.keywords("zh")}


def parse_prompt(prompt: str) -> dict[str, str]:
    """Return the attributes a prompt asks for, e.g. {"color": "red", "shape": "circle"}.

    Understands English and Chinese (mixed is fine): every word the caption
    templates use plus common synonyms listed in ``recipes.toy.captions`` (ball, disc,
    box, big, tiny, middle, 圆球, 方框, 左/右/上/下, 白底, 水墨 ...). Only
    mentioned attributes are returned; when one attribute is mentioned twice the
    first mention wins. "white"/"black" (白/黑) always mean the background, since
    objects are never white or black. Negation ("not red") is out of scope.
    """
    text = prompt.lower().replace("-", " ")
    table = _table()
    if _CJK.search(text):
        tokens = [t.strip() for t in _jieba().lcut(_ON_BG.sub(r"\1", text))]
    else:
        tokens = re.findall(r"[a-z]+", text)
    found: dict[str, str] = {}
    for token in tokens:
        for attr, value in _lookup(token, table):
            found.setdefault(attr, value)
    return found


def word_attributes(word: str) -> list[tuple[str, str]]:
    """The (attribute, value) pairs one word names, e.g. "大红色" → size large, colour red."""
    return _lookup(word.lower(), _table())


def _lookup(token: str, table: Mapping[str, tuple[str, str]]) -> list[tuple[str, str]]:
    """Attributes in one token: a whole-word hit, else greedy longest matches inside it."""
    if not token or token in _STOP:
        return []
    if token in table:
        return [table[token]]
    if not _CJK.search(token):
        return [table[token[:-1]]] if token.endswith("s") and token[:-1] in table else []
    # jieba may glue vocabulary to neighbours (大红色, 大圆): scan inside the token.
    hits, i, longest = [], 0, max(len(w) for w in table)
    while i < len(token):
        for n in range(min(longest, len(token) - i), 0, -1):
            if token[i:i + n] in table:
                hits.append(table[token[i:i + n]])
                i += n
                break
        else:
            i += 1
    return hits
