"""The toy world's language: caption vocabulary, templates, ``caption`` and captioned datasets.

This module is the single source of vocabulary: captions are built from
``CAPTION_WORDS`` and the judge's prompt parser (``recipes.toy.parse``) reads
``keywords()``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Sequence
from typing import NamedTuple

from PIL import Image

from recipes.toy.world import ATTRIBUTES, BASE_SHAPES, Scene, _as_rng, render, sample_scene

# --- Vocabulary ------------------------------------------------------------------
# Words the captions use, per template slot. Slots map to attributes via _SLOT_ATTR.
CAPTION_WORDS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "en": {
        "shape": {"circle": ("circle", "disc"), "square": ("square", "box", "block"),
                  "triangle": ("triangle",), "star": ("star", "five-pointed star")},
        "color": {c: (c,) for c in ATTRIBUTES["color"]} | {"purple": ("purple", "violet")},
        "size": {"small": ("small", "little"), "large": ("large", "big")},
        "pos": {"left": ("on the left", "at the left side", "on the left side"),
                "right": ("on the right", "at the right side", "on the right side"),
                "top": ("at the top", "in the upper part", "near the top"),
                "bottom": ("at the bottom", "in the lower part", "near the bottom"),
                "center": ("in the middle", "in the center", "in the centre", "at the center")},
        "posw": {"left": ("left", "left side"), "right": ("right", "right side"),
                 "top": ("top", "upper part"), "bottom": ("bottom", "lower part"),
                 "center": ("center", "middle", "centre")},
        "bg": {"white": ("white background", "white backdrop"),
               "black": ("black background", "black backdrop")},
        "bgc": {"white": ("white",), "black": ("black",)},
    },
    "zh": {
        "shape": {"circle": ("圆形", "圆", "圆圈"), "square": ("正方形", "方块", "方形"),
                  "triangle": ("三角形", "三角"), "star": ("星形", "五角星", "星星")},
        "color": {"red": ("红色", "红"), "green": ("绿色", "绿"), "blue": ("蓝色", "蓝"),
                  "yellow": ("黄色", "黄"), "purple": ("紫色", "紫"),
                  "orange": ("橙色", "橙", "橘色")},
        "size": {"small": ("小",), "large": ("大",)},
        "size_de": {"small": ("小的", "较小的"), "large": ("大的", "较大的")},
        "pos": {"left": ("左边", "左侧"), "right": ("右边", "右侧"),
                "top": ("上方", "上面", "顶部"), "bottom": ("下方", "下面", "底部"),
                "center": ("中间", "中央", "正中")},
        "bg": {"white": ("白色背景", "白底"), "black": ("黑色背景", "黑底")},
    },
}
_SLOT_ATTR = {"shape": "shape", "color": "color", "size": "size", "size_de": "size",
              "pos": "position", "posw": "position", "bg": "background", "bgc": "background"}

TEMPLATES: dict[str, tuple[str, ...]] = {
    "en": (
        "a {size} {color} {shape} {pos}, {bg}",
        "{color} {shape}, {size}, {posw}, {bg}",
        "a {size} {color} {shape} {pos} on a {bgc} background",
        "{bg}, a {size} {color} {shape} {pos}",
        "a {color} {shape}, {size}, {pos}, on {bgc}",
        "{size} {shape} in {color}, {posw}, on {bgc}",
        "there is a {size} {color} {shape} {pos} against a {bgc} background",
        "{posw}: {size} {color} {shape} on {bgc}",
    ),
    "zh": (
        "{bg}上{pos}有一个{size_de}{color}{shape}",
        "一个{color}的{size}{shape}在{pos}，{bg}",
        "{pos}是一个{size_de}{color}{shape}，{bg}",
        "{bg}，{pos}，{size}{color}{shape}",
        "{size_de}{color}{shape}位于画面{pos}，{bg}",
        "画面{pos}：{color}{shape}（{size}），{bg}",
        "在{bg}上，{pos}画着一个{size_de}{color}{shape}",
        "{color}{shape}，{size}，{pos}，{bg}",
    ),
}
# Wrappers for non-plain styles; plain is the default and is never mentioned.
STYLE_TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {"ink": ("an ink-wash painting of {c}", "{c}, ink wash style",
                   "{c}, in ink-wash style", "sumi-e ink drawing: {c}")},
    "zh": {"ink": ("水墨画：{c}", "{c}，水墨风格", "{c}，水墨画", "一幅水墨画，{c}")},
}

# Prompts that name only colour and background (ControlNet's: outline and place come from
# the control image); the English encoder is trained to keep them too.
COLOR_TEMPLATES: dict[str, tuple[str, ...]] = {
    "en": ("a {color} shape on a {bg} background", "a {color} object, {bg} background",
           "{color} on {bg}", "a {color} figure against a {bg} background",
           "a {color} {shape} on a {bg} background"),
    "zh": ("{bg}背景上的一个{color}图形", "{color}物体，{bg}背景", "{bg}底{color}图案",
           "一个{color}的形状，{bg}背景", "{bg}背景上的一个{color}{shape}"),
}

# Extra words only the parser knows (never produced by captions): sane synonyms.
_PARSE_EXTRA: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "en": {
        "shape": {"circle": ("circle", "circles", "circular", "disc", "disk", "discs", "ball",
                             "round", "dot", "sphere", "orb"),
                  "square": ("square", "squares", "box", "boxes", "block", "blocks",
                             "tile", "cube"),
                  "triangle": ("triangle", "triangles", "triangular", "pyramid"),
                  "star": ("star", "stars", "pentagram")},
        "color": {"red": ("red", "crimson", "scarlet", "cherry"), "green": ("green", "emerald"),
                  "blue": ("blue", "azure", "cobalt"),
                  "yellow": ("yellow", "golden", "gold", "lemon"),
                  "purple": ("purple", "violet", "lilac", "lavender"),
                  "orange": ("orange", "tangerine")},
        "size": {"small": ("small", "little", "tiny", "smaller", "mini", "miniature", "smallish",
                           "teeny", "wee"),
                 "large": ("large", "big", "huge", "larger", "bigger", "giant", "enormous",
                           "massive", "biggish", "gigantic")},
        "position": {"left": ("left", "leftmost"), "right": ("right", "rightmost"),
                     "top": ("top", "upper", "high"), "bottom": ("bottom", "lower", "low"),
                     "center": ("center", "centre", "middle", "central", "centered",
                                "centred")},
        "background": {"white": ("white",), "black": ("black",)},
        "style": {"ink": ("ink", "inkwash", "sumi"), "plain": ("plain", "flat")},
    },
    "zh": {
        "shape": {"circle": ("圆球", "圆片", "圆点", "圆盘", "球"),
                  "square": ("方框", "四方形", "正方块"),
                  "triangle": ("三角块", "三角型"), "star": ("星", "五角形")},
        "color": {"red": ("朱红",), "orange": ("橘黄色", "橘红色", "橘"), "purple": ("紫罗兰",)},
        "size": {"small": ("较小", "小小的", "小号"), "large": ("较大", "大大的", "大号")},
        "position": {"left": ("左", "左面", "左方", "靠左"),
                     "right": ("右", "右面", "右方", "靠右"),
                     "top": ("上", "上边", "上部", "顶端", "靠上"),
                     "bottom": ("下", "下边", "下部", "底端", "靠下"),
                     "center": ("正中间", "中心", "居中", "中部", "当中")},
        "background": {"white": ("白", "白色", "白背景", "浅色背景"),
                       "black": ("黑", "黑色", "黑背景", "深色背景")},
        "style": {"ink": ("水墨", "水墨画", "水墨风", "水墨风格", "国画"),
                  "plain": ("平涂", "扁平")},
    },
}


def caption_templates(lang: str = "en") -> tuple[str, ...]:
    """Return the caption templates of ``lang`` ("en" or "zh"), in index order."""
    return TEMPLATES[lang]


def keywords(lang: str) -> dict[str, tuple[str, str]]:
    """Return ``{word: (attribute, value)}`` for every word the parser should know in ``lang``.

    For Chinese this is every caption word plus the parse-only extras; for English
    it is single words (caption phrases such as "on the left" are matched by their
    keyword "left").
    """
    table: dict[str, tuple[str, str]] = {}
    if lang == "zh":
        for slot, values in CAPTION_WORDS["zh"].items():
            for value, words in values.items():
                table.update({w: (_SLOT_ATTR[slot], value) for w in words})
    for attr, values in _PARSE_EXTRA[lang].items():
        for value, words in values.items():
            table.update({w: (attr, value) for w in words})
    return table


def caption(scene: Scene, lang: str = "en", rng: random.Random | int | None = None,
            template: int | None = None) -> str:
    """Describe ``scene`` in ``lang`` with a random template and random synonyms.

    With ``rng=None`` the first template and the first synonym of each slot are
    used, so the caption is canonical; ``template`` forces a template index.
    Non-plain styles are mentioned through a style wrapper; plain never is.
    """
    words = CAPTION_WORDS[lang]
    values = {"shape": scene.shape, "color": scene.color, "size": scene.size,
              "size_de": scene.size, "pos": scene.position, "posw": scene.position,
              "bg": scene.background, "bgc": scene.background}
    r = None if rng is None else _as_rng(rng)
    pick = (lambda seq: seq[0]) if r is None else r.choice
    tpl = TEMPLATES[lang][template if template is not None else
                          (0 if r is None else r.randrange(len(TEMPLATES[lang])))]
    text = tpl.format(**{slot: pick(words[slot][values[slot]]) for slot in words})
    if scene.style != "plain":
        text = pick(STYLE_TEMPLATES[lang][scene.style]).format(c=text)
    if lang == "en":
        text = re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", text)  # "a orange" -> "an orange"
    return text


class Record(NamedTuple):
    """One dataset item: the rendered image, its caption and the ground-truth scene."""

    image: Image.Image
    caption: str
    scene: Scene


def make_dataset(n: int, seed: int = 0, size: int = 64, lang: str | Sequence[str] = "en",
                 shapes: Sequence[str] = BASE_SHAPES,
                 styles: Sequence[str] = ("plain",)) -> list[Record]:
    """Render ``n`` random scenes with captions; the same arguments give the same dataset.

    ``lang`` may be a sequence such as ``("en", "zh")``, in which case each
    caption's language is drawn at random. Rendering is pure PIL/numpy: about
    0.15 ms per plain 64x64 image (0.4 ms with ink) on one CPU core.
    """
    rng = random.Random(seed)
    langs = (lang,) if isinstance(lang, str) else tuple(lang)
    out = []
    for _ in range(n):
        scene = sample_scene(rng, shapes, styles)
        image = render(scene, size=size, seed=rng.getrandbits(32))
        out.append(Record(image, caption(scene, rng.choice(langs), rng), scene))
    return out


# --- Free English: the way people type prompts ---------------------------------------
# A compositional grammar for English prompts beyond the eight templates: an object
# phrase (adjectives before or after the noun), a position phrase and a background
# phrase in any order, an optional request ("draw", "show me", "there is"), filler,
# casing and punctuation. Every table has a "train" part, which the English encoder
# distillation (``recipes.toy.en``) reads, and a "heldout" part that only the
# ``unseen_grammar`` evaluation set uses: request phrases, object frames, position and
# background constructions, intensifiers and filler that training never sees. The
# attribute *words* themselves are shared: an encoder without a pretrained language
# model cannot guess that a word it never read means "red", so every synonym a person
# plausibly types is taught. Only words the judge can honestly check are used (the
# world has no corners, no grey, no rectangles, no rings).
GRAMMAR_SPLITS: tuple[str, ...] = ("train", "heldout")
# Attributes a prompt may leave unsaid (``free_caption(omit=...)``); the shape is always named.
OMITTABLE: tuple[str, ...] = ("color", "size", "position", "background")

FREE_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "shape": {"circle": ("circle", "circle", "disc", "disk", "dot", "ball", "round shape",
                         "round blob", "sphere", "orb", "circular shape"),
              "square": ("square", "square", "box", "block", "tile", "square shape", "cube",
                         "square block"),
              "triangle": ("triangle", "triangle", "triangular shape", "pyramid",
                           "triangle shape"),
              "star": ("star", "star", "five-pointed star", "star shape", "pentagram")},
    "color": {"red": ("red", "red", "crimson", "scarlet", "bright red", "cherry red"),
              "green": ("green", "green", "emerald", "emerald green", "grass green"),
              "blue": ("blue", "blue", "azure", "cobalt", "royal blue", "cobalt blue"),
              "yellow": ("yellow", "yellow", "golden", "gold", "lemon", "lemon yellow"),
              "purple": ("purple", "purple", "violet", "lilac", "lavender"),
              "orange": ("orange", "orange", "tangerine", "bright orange")},
    "size": {"small": ("small", "small", "tiny", "little", "mini", "miniature", "smallish",
                       "teeny"),
             "large": ("large", "large", "big", "huge", "giant", "enormous", "massive",
                       "biggish")},
}
# Size words that stand after "that is" / "which is" ("a circle that is big").
_INTENSIFIERS = {"train": ("very", "really", "super", "pretty", "quite"),
                 "heldout": ("extremely", "rather", "fairly", "awfully")}
_PREFIXES = {
    "train": ("", "", "", "draw", "draw me", "show me", "please make", "make", "generate",
              "create", "paint", "render", "I want", "i would like", "I'd like", "there is",
              "there's", "can you draw", "give me", "a picture of", "an image of",
              "picture of", "image of", "pls draw", "just", "I need"),
    "heldout": ("could you please paint", "sketch", "we want to see", "produce",
                "imagine", "illustrate", "depict", "here is", "let's have", "I'd love",
                "output", "design"),
}
_DETS = {"train": ("a", "a", "a", "", "one", "the", "a single"),
         "heldout": ("just one", "exactly one")}
# Object frames: {d} determiner, {s} size, {c} colour, {n} shape noun, {i} intensifier.
_OBJECT = {
    "train": ("{d} {s} {c} {n}", "{d} {s} {c} {n}", "{d} {i} {s} {c} {n}",
              "{d} {c} {s} {n}", "{d} {n}, {c} and {s}", "{d} {n}, {s} and {c}",
              "{d} {c} {n} that is {s}", "{d} {c} {n} that is {i} {s}",
              "{d} {s} {n} in {c}", "{d} {s} {n}, colored {c}", "{d} {s} {n} coloured {c}",
              "{d} {c} {n}, {s}", "{d} {s} {n} that is {c}", "{d} {n} in {c}, {s}",
              "{d} {s}, {c} {n}", "{d} {c} colored {s} {n}", "{d} {n} ({c}, {s})"),
    "heldout": ("{d} {s} and {c} {n}", "{d} {n} which is {c} and {i} {s}",
                "{d} {n} painted {c}, rather {s}", "{d} {s} {n} whose colour is {c}",
                "{d} {n}: {s}, {c}", "{d} {c}-ish {n} of {s} size"),
}
_POSITION = {
    "train": {
        "left": ("on the left", "at the left", "to the left", "towards the left", "left",
                 "on the left side", "left side", "on the left-hand side", "left-hand side",
                 "in the left half", "on the left of the image", "at the left edge"),
        "right": ("on the right", "at the right", "to the right", "towards the right",
                  "right", "on the right side", "right side", "on the right-hand side",
                  "right-hand side", "in the right half", "on the right of the image",
                  "at the right edge"),
        "top": ("at the top", "near the top", "top", "in the upper part", "upper part",
                "in the top half", "at the top of the image", "up top", "high up",
                "towards the top", "at the top edge", "upper half"),
        "bottom": ("at the bottom", "near the bottom", "bottom", "in the lower part",
                   "lower part", "in the bottom half", "at the bottom of the image",
                   "down low", "towards the bottom", "at the bottom edge", "lower half"),
        "center": ("in the middle", "in the center", "in the centre", "centered", "centred",
                   "center", "middle", "in the middle of the image", "dead center",
                   "at the center", "in the centre of the picture", "central"),
    },
    "heldout": {
        "left": ("over on the left", "along the left", "in the left part of the frame",
                 "positioned left", "on the image's left"),
        "right": ("over on the right", "along the right", "in the right part of the frame",
                  "positioned right", "on the image's right"),
        "top": ("up high", "in the upper area", "at the top of the frame",
                "along the top", "positioned at the top"),
        "bottom": ("low in the frame", "in the lower area", "down at the bottom",
                   "along the bottom", "positioned at the bottom"),
        "center": ("at the very center", "in the central area", "middle of the frame",
                   "smack in the middle", "positioned in the centre"),
    },
}
_BACKGROUND = {
    "train": ("on {b}", "on a {b} background", "{b} background", "{b} backdrop",
              "against {b}", "against a {b} backdrop", "with a {b} background", "{b} bg",
              "on a solid {b} background", "background: {b}", "background is {b}",
              "bg {b}", "on a {b} canvas", "on {b} paper", "{b} background please",
              "over {b}", "in front of a {b} background"),
    "heldout": ("set against a {b} canvas", "the background should be {b}",
                "{b} surroundings", "on a blank {b} page", "with {b} behind it",
                "backdrop colour {b}"),
}
# Words that carry no attribute, inserted between clauses.
_FILLER = {"train": ("nice", "simple", "cute", "please", "thanks", "clean",
                     "minimal", "pic", "drawing", "so", "ok", "hd", "icon"),
           "heldout": ("lovely", "neat", "crisp", "graphic", "cool", "asap")}
_SEPARATORS = {"train": (", ", ", ", " ", " ", "; ", " - ", ". ", ",", " and "),
               "heldout": (" / ", " | ", " -- ", " + ")}
_ENDINGS = ("", "", "", ".", "!", "?", " please", "!!", "...")
_STYLE_FREE = {"ink": {"train": ("in ink-wash style", "ink wash painting of", "sumi-e",
                                 "as an ink painting", "ink style"),
                       "heldout": ("done in ink wash", "brush-and-ink")}}


def free_caption(scene: Scene, rng: random.Random | int | None = None,
                 split: str = "train", omit: Collection[str] = ()) -> str:
    """A free English prompt for ``scene``, the way a person might type it.

    ``split="train"`` draws only from the phrasings the English encoder is
    trained on; ``"heldout"`` puts at least one construction training never
    sees (request, object frame, position or background phrase, separator) in
    every prompt, for the ``unseen_grammar`` evaluation. Clauses come in any
    order, with or without articles, commas, capitals and a closing mark;
    attribute words are drawn from ``FREE_WORDS`` (shared by both splits).

    ``omit`` (any of ``OMITTABLE``) leaves those attributes unsaid, the way
    people under-specify ("a red star", "a star on the left"): the adjectives go
    before the noun and the omitted clauses are dropped. With ``omit=()`` the
    random draws are exactly those of the full prompt.
    """
    if split not in GRAMMAR_SPLITS:
        raise ValueError(f"split must be one of {GRAMMAR_SPLITS}, got {split!r}")
    omit = frozenset(omit)
    if not omit <= set(OMITTABLE):
        raise ValueError(f"omit must be a subset of {OMITTABLE}, got {sorted(omit)}")
    r = _as_rng(0 if rng is None else rng)
    held = split == "heldout"
    # Held-out prompts: each construction is held out with probability 1/2, at least one.
    parts = ("prefix", "object", "position", "background", "separator")
    if omit:  # only constructions the shorter prompt still has can be the unseen ones
        parts = tuple(p for p in parts if p not in omit
                      and not (p == "object" and omit & {"color", "size"})
                      and not (p == "separator" and {"position", "background"} <= omit))
    unseen = {p for p in parts if held and r.random() < 0.5}
    if held and not unseen:
        unseen.add(r.choice(parts))

    def table(name: str, tables: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
        return tables["heldout" if name in unseen else "train"]

    words = {"s": r.choice(FREE_WORDS["size"][scene.size]),
             "c": r.choice(FREE_WORDS["color"][scene.color]),
             "n": r.choice(FREE_WORDS["shape"][scene.shape]),
             "d": r.choice(_DETS["heldout" if held and r.random() < 0.3 else "train"]),
             "i": r.choice(_INTENSIFIERS[split])}
    if r.random() < 0.15:
        words["s"] = f"{r.choice(_INTENSIFIERS[split])} {words['s']}"
    if omit & {"color", "size"}:  # adjectives before the noun, the unsaid ones left out
        words.update({k: "" for k, a in (("c", "color"), ("s", "size")) if a in omit})
        obj = re.sub(r"\s+", " ", r.choice(("{d} {s} {c} {n}", "{d} {c} {s} {n}"))
                     .format(**words)).strip()
    else:
        obj = r.choice(table("object", _OBJECT)).format(**words)
    prefix = r.choice(table("prefix", _PREFIXES))
    if "prefix" in unseen and not prefix:
        prefix = _PREFIXES["heldout"][0]
    if scene.style != "plain":
        style = r.choice(_STYLE_FREE[scene.style]["heldout" if held and r.random() < 0.5
                                                  else "train"])
        obj = f"{style} {obj}" if style.endswith("of") else f"{obj} {style}"
    obj = f"{prefix} {obj}"
    pos = r.choice(_POSITION["heldout" if "position" in unseen else "train"][scene.position])
    bg = r.choice(table("background", _BACKGROUND)).format(b=scene.background)
    clauses = [obj] + [c for c, a in ((pos, "position"), (bg, "background")) if a not in omit]
    r.shuffle(clauses)
    if r.random() < 0.25:
        clauses.insert(r.randrange(len(clauses) + 1), r.choice(_FILLER[split]))
    seps = table("separator", _SEPARATORS)
    text = clauses[0]
    for i, clause in enumerate(clauses[1:]):
        # A held-out separator is used at least once when separators are held out.
        sep = r.choice(seps) if i or "separator" not in unseen else seps[0]
        text += sep + clause
    return finish(re.sub(r"\s+", " ", text).strip(" ,;-"), r)


def finish(text: str, r: random.Random, endings: Sequence[str] = _ENDINGS,
           cases: tuple[float, float, float] = (0.3, 0.38, 0.42)) -> str:
    """Fix "a"/"an", add a random ending and sometimes capitalise (first letter, Title Case or
    UPPER with cumulative probabilities ``cases``) the way people type: the last draws of
    ``free_caption`` and ``recipes.toy.en.short_prompt``."""
    text = re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", text)  # "a orange" -> "an orange"
    text = re.sub(r"\b([Aa])n (?=[^aeiou\W])", r"\1 ", text)  # "an big" -> "a big"
    text += r.choice(endings)
    u = r.random()
    if u < cases[0]:
        text = text[:1].upper() + text[1:]
    elif u < cases[1]:
        text = text.title()
    elif u < cases[2]:
        text = text.upper()
    return text


def partial_caption(scene: Scene, rng: random.Random, split: str = "train",
                    omittable: Sequence[str] = OMITTABLE) -> tuple[str, tuple[str, ...]]:
    """Free English for ``scene`` that leaves attributes unsaid; returns ``(prompt, omitted)``.

    Each attribute of ``omittable`` (default: colour, size, position and
    background) is left out with probability 1/2, at least one of them ("a
    star", "draw a red star on black"); the shape (and the ink style) is always
    named. The image the prompt asks for is any scene with the said attributes,
    so a judge checks only those.
    """
    omitted = tuple(a for a in omittable if rng.random() < 0.5) or (rng.choice(omittable),)
    return free_caption(scene, rng, split=split, omit=omitted), omitted
