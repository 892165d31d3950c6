"""Chinese prompt makers: a seeded generator of natural prompts, and glossary translation."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from recipes.chinese.text import STYLE_TERMS, _require_text, segment
from recipes.toy import captions as tc

# --- Prompt generator --------------------------------------------------------------
# (measure word, noun, adjectives that suit it): "一只" + "白色" + "小猫".
_SUBJECTS = (("只", "小猫", ("白色", "橘色", "熟睡的")), ("只", "狐狸", ("红色", "机警的")),
             ("只", "白鹤", ("优雅的", "孤单的")), ("座", "古塔", ("古老的", "高耸的")),
             ("艘", "小船", ("木头", "红色")), ("位", "老人", ("白发", "微笑的")),
             ("棵", "樱花树", ("盛开的", "高大的")), ("座", "木屋", ("小小的", "温暖的")),
             ("辆", "自行车", ("蓝色", "复古")), ("盏", "灯笼", ("红色", "明亮的")))
_TIMES = ("夕阳下", "清晨", "月光下", "雨夜", "雪后", "黄昏时", "薄雾中", "正午")
_PLACES = ("湖边", "山间", "古镇街头", "竹林里", "海边", "雪山脚下", "城市屋顶", "花园里",
           "小巷深处", "桥上")
_LIGHTS = ("柔和逆光", "金色侧光", "清冷月光", "暖色灯光", "斑驳树影", "晨雾散射光")


@dataclass
class Translation:
    """What ``translate`` made of a Chinese prompt: the English text and how it got there."""

    english: str
    attributes: dict[str, str]
    words: list[str]
    unknown: list[str]


# Words that carry no attribute (grammar and filler): not reported as unknown.
_FUNCTION_WORDS = frozenset("一个 一 个 有 是 在 的 上 和 与 画 画面 位于 画着 着 背景 颜色 位置 "
                            "尺寸 请 生成 放在 为 有个".split())


def translate(prompt: str) -> Translation:
    """Glossary translation of a toy-world prompt: jieba words → attributes → an English caption.

    Each segmented word is looked up in the toy world's Chinese vocabulary
    (synonyms included); the attributes found are written out as the English
    template the toy model knows best. Words outside the glossary are dropped
    and listed in ``unknown``, so a learner sees what was lost. A real project
    would put a machine-translation model here (e.g. a MarianMT zh→en model via
    ``transformers.pipeline("translation", ...)``); the rest stays the same.
    """
    from recipes.toy import judge

    _require_text(prompt)
    attributes = judge.parse_prompt(prompt)  # the judge's jieba glossary, synonyms included
    words = segment(prompt)
    unknown = [w for w in words if not judge.word_attributes(w) and w not in _FUNCTION_WORDS]
    en = tc.CAPTION_WORDS["en"]
    pick = {"size": ("size", "size"), "color": ("color", "color"), "shape": ("shape", "shape"),
            "pos": ("position", "pos"), "bg": ("background", "bg")}
    part = {slot: en[key][attributes[attr]][0] if attr in attributes else ""
            for slot, (attr, key) in pick.items()}
    head = " ".join(p for p in ("a", part["size"], part["color"], part["shape"] or "shape",
                                part["pos"]) if p)
    english = f"{head}, {part['bg']}" if part["bg"] else head
    english = re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", english)
    if attributes.get("style") == "ink":
        english = f"an ink-wash painting of {english}"
    return Translation(english=english, attributes=attributes, words=words, unknown=unknown)


class PromptGenerator:
    """Seeded generator of natural Chinese prompts: time, place, subject, light and style.

    The same seed gives the same prompts; each ``generate`` call continues the
    seeded stream and never repeats a prompt within one batch.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = random.Random(seed)

    def prompt(self, style: str | None = None) -> str:
        """Return one prompt, e.g. "夕阳下湖边的一只白色小猫，柔和逆光，水彩风格"."""
        if style is not None and style not in STYLE_TERMS:
            raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLE_TERMS)}")
        r = self.rng
        measure, noun, adjectives = r.choice(_SUBJECTS)
        name = STYLE_TERMS[style or r.choice(list(STYLE_TERMS))][0]
        return (f"{r.choice(_TIMES)}{r.choice(_PLACES)}的一{measure}{r.choice(adjectives)}{noun}"
                f"，{r.choice(_LIGHTS)}，{name}风格")

    def generate(self, n: int, style: str | None = None) -> list[str]:
        """Return ``n`` distinct prompts (all of ``style`` when given, else mixed styles)."""
        out: dict[str, None] = {}
        for _ in range(50 * n + 100):  # resample duplicates; the space has >10^5 prompts
            if len(out) == n:
                break
            out.setdefault(self.prompt(style))
        if len(out) < n:
            raise ValueError(f"could not make {n} distinct prompts; ask for fewer")
        return list(out)


def generate_prompts(n: int, seed: int = 0, style: str | None = None) -> list[str]:
    """Return ``n`` distinct seeded prompts; shorthand for ``PromptGenerator(seed).generate``."""
    return PromptGenerator(seed).generate(n, style)
