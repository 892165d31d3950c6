"""Chinese prompt text: segmentation, style detection, token budget, style expansion.

``segment`` uses a private jieba tokenizer that knows art-style terms (水墨, 赛博朋克
...) and the toy-world vocabulary, so they are never split. ``analyze`` counts the
CLIP tokens a prompt costs and shows what the 77-token budget silently cuts off;
``expand_style`` adds style terms within that budget.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from recipes.toy import captions as tc

if TYPE_CHECKING:
    import jieba
    from transformers import PreTrainedTokenizerBase

# Style groups: the first term names the style in Chinese ("水墨风格"); every term
# detects the style, and expand_style adds them in order.
STYLE_TERMS: dict[str, tuple[str, ...]] = {
    "ink": ("水墨", "写意", "留白", "宣纸", "国画", "山水画", "工笔", "泼墨", "水墨画"),
    "oil": ("油画", "厚涂", "油画笔触", "画布纹理", "古典油画"),
    "watercolor": ("水彩", "晕染", "水彩纸纹理", "湿画法", "水彩画"),
    "sketch": ("素描", "铅笔画", "线稿", "速写", "排线"),
    "anime": ("动漫", "二次元", "赛璐璐", "日系动画", "漫画风"),
    "cyberpunk": ("赛博朋克", "霓虹灯", "未来都市", "全息投影", "雨夜街道"),
    "steampunk": ("蒸汽朋克", "黄铜齿轮", "维多利亚时代", "机械装置"),
    "ukiyoe": ("浮世绘", "木版画", "平面色块", "和风"),
    "pixel": ("像素艺术", "像素风", "像素画", "复古游戏"),
    "impressionism": ("印象派", "光影斑驳", "点彩", "外光画法"),
    "minimalism": ("极简主义", "简约构图", "纯色背景", "几何线条"),
    "surrealism": ("超现实主义", "梦境", "超现实", "奇幻构图"),
    "photo": ("写实摄影", "摄影", "电影感", "景深", "浅景深", "胶片质感", "广角镜头"),
}
# Known to the segmenter (kept whole) but not styles.
LIGHT_TERMS: tuple[str, ...] = ("逆光", "侧光", "柔光", "自然光", "体积光", "丁达尔效应")
QUALITY_TERMS: tuple[str, ...] = ("高清", "超高清", "细节丰富", "杰作")

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK_RUN = re.compile(_CJK.pattern + "+")
_STYLE_OF = {term: style for style, terms in STYLE_TERMS.items() for term in terms}
_BY_LENGTH = sorted(_STYLE_OF, key=len, reverse=True)
_EXAMPLE = "一只白色小猫，水彩风格"


def _require_text(prompt: str) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"prompt is empty: pass some text, e.g. {_EXAMPLE!r}")
    return prompt


@functools.cache
def _jieba() -> jieba.Tokenizer:
    """A private jieba tokenizer with style terms and toy-world words, built once, quietly."""
    import jieba

    jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict..." on stderr
    tok = jieba.Tokenizer()  # private: the global jieba dictionary (judge.py) stays as it is
    words = [*_STYLE_OF, *LIGHT_TERMS, *QUALITY_TERMS, *tc.keywords("zh")]
    words += [w for slot in tc.CAPTION_WORDS["zh"].values() for ws in slot.values() for w in ws]
    # A fixed frequency and a fixed order make segmentation the same on every run.
    # Single characters are skipped: a high frequency would split 小猫 or 上海 apart.
    for word in dict.fromkeys(words):
        if len(word) >= 2:
            tok.add_word(word, freq=100000)
    return tok


def _is_word(token: str) -> bool:
    return any(unicodedata.category(c)[0] in "LN" for c in token)


def segment(prompt: str) -> list[str]:
    """Split a Chinese (or mixed) prompt into words, dropping punctuation and whitespace.

    Art-style terms (水墨, 赛博朋克, 浮世绘 ...) and toy-world words (红色, 圆形,
    白色背景 ...) are in the dictionary, so they always come out whole.
    """
    return [t.strip() for t in _jieba().lcut(prompt) if _is_word(t)]


@dataclass
class PromptAnalysis:
    """What ``analyze`` found in a prompt; token fields are None when no tokenizer was given.

    ``truncated_text`` is the tail of the prompt the text encoder never sees
    ("" when it fits); ``tokens_per_char`` is the average cost of one CJK character.
    """

    words: list[str]
    styles: list[str]
    n_chars: int
    n_cjk: int
    budget: int
    n_tokens: int | None = None
    over_budget: bool | None = None
    truncated_text: str | None = None
    tokens_per_char: float | None = None


def detect_styles(words: Iterable[str]) -> list[str]:
    """Return the style keys (``STYLE_TERMS``) named by ``words``, in order of first mention.

    A word that is not a style term itself is scanned for style terms inside it,
    longest first, since the dictionary has compounds such as 水墨风格.
    """
    found: dict[str, None] = {}
    for word in words:
        i = 0
        while i < len(word):
            term = next((t for t in _BY_LENGTH if word.startswith(t, i)), None)
            if term:
                found.setdefault(_STYLE_OF[term])
            i += len(term) if term else 1
    return list(found)


def analyze(prompt: str, tokenizer: PreTrainedTokenizerBase | None = None,
            budget: int = 77) -> PromptAnalysis:
    """Segment ``prompt``, detect its styles and, given a tokenizer, check the token budget.

    ``n_tokens`` counts BOS and EOS, like the pipeline; when it exceeds ``budget``
    the pipeline truncates silently, and ``truncated_text`` shows what was lost.
    """
    _require_text(prompt)
    words = segment(prompt)
    result = PromptAnalysis(words=words, styles=detect_styles(words), n_chars=len(prompt),
                            n_cjk=len(_CJK.findall(prompt)), budget=budget)
    if tokenizer is None:
        return result
    result.n_tokens = len(_encode(tokenizer, prompt))
    result.over_budget = result.n_tokens > budget
    result.truncated_text = _lost_text(tokenizer, prompt, budget) if result.over_budget else ""
    result.tokens_per_char = _tokens_per_cjk_char(tokenizer, prompt)
    return result


def _encode(tokenizer: PreTrainedTokenizerBase, text: str, **kwargs) -> list[int]:
    # verbose=False: counting a long prompt is the point here, so the "sequence
    # length is longer than the specified maximum" warning would only alarm.
    return tokenizer(text, verbose=False, **kwargs).input_ids


def _lost_text(tokenizer: PreTrainedTokenizerBase, prompt: str, budget: int) -> str:
    """The trailing text that ``truncation=True, max_length=budget`` drops from ``prompt``."""
    kept = _encode(tokenizer, prompt, truncation=True, max_length=budget)
    n_kept = len(kept) - tokenizer.num_special_tokens_to_add()  # content tokens that survive
    # Byte-level BPE may spend several tokens on one Chinese character (3 bytes in
    # UTF-8), and the cut can fall between them. Decoding only the cut tokens then
    # gives "\ufffd" garbage (diffusers' own warning shows this), and the character
    # is lost either way: the encoder sees a byte fragment. So a character counts
    # as lost as soon as one of its tokens is cut.
    if getattr(tokenizer, "is_fast", False):
        # Offsets map each token to its characters in the original prompt, so the
        # lost tail is an exact slice: original spacing and case are kept.
        enc = tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True,
                        verbose=False)
        start = enc.offset_mapping[n_kept][0]
        # Likewise an English word cut in two ("cir|cle") is lost as a whole.
        while 0 < start < len(prompt) and _ascii_alnum(prompt[start]) \
                and _ascii_alnum(prompt[start - 1]):
            start -= 1
        return prompt[start:].strip()
    # Slow tokenizers have no offsets: decode both, drop the partial character
    # ("\ufffd") at the end of the kept text, and take the rest of the full text.
    ids = _encode(tokenizer, prompt, add_special_tokens=False)
    full = tokenizer.decode(ids, clean_up_tokenization_spaces=False)
    head = tokenizer.decode(ids[:n_kept], clean_up_tokenization_spaces=False).rstrip("\ufffd")
    if full.startswith(head):
        return full[len(head):].strip()
    return tokenizer.decode(ids[n_kept:], clean_up_tokenization_spaces=False).strip()


def _ascii_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _tokens_per_cjk_char(tokenizer: PreTrainedTokenizerBase, prompt: str) -> float | None:
    chars = _CJK.findall(prompt)
    if not chars:
        return None
    if getattr(tokenizer, "is_fast", False):  # count in context, via offsets
        enc = tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True,
                        verbose=False)
        n = sum(1 for a, b in enc.offset_mapping if b > a and _CJK_RUN.fullmatch(prompt[a:b]))
    else:  # no offsets: cost of each character on its own
        n = sum(len(_encode(tokenizer, c, add_special_tokens=False)) for c in chars)
    return n / len(chars)


def expand_style(prompt: str, style: str, tokenizer: PreTrainedTokenizerBase | None = None,
                 budget: int = 77, max_terms: int | None = None) -> str:
    """Append the terms of ``style`` (see ``STYLE_TERMS``) to ``prompt``, joined with "，".

    A term is skipped when the text already has it (as a word or a substring) or
    already has a style term inside it (水墨 makes 水墨画 redundant). With a
    tokenizer, expansion stops before the prompt would exceed ``budget`` tokens.
    """
    _require_text(prompt)
    if style not in STYLE_TERMS:
        raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLE_TERMS)}")
    # Substring tests cover every segmented word too: words are slices of the text.
    present = [t for t in _STYLE_OF if t in prompt]
    out, added = prompt.strip().rstrip("，,、;；。. "), 0
    for term in STYLE_TERMS[style]:
        if max_terms is not None and added >= max_terms:
            break
        if term in out or any(t in term for t in present):
            continue
        candidate = f"{out}，{term}"
        if tokenizer is not None and len(_encode(tokenizer, candidate)) > budget:
            break
        out, added = candidate, added + 1
        present.append(term)
    return out if added else prompt


