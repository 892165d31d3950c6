"""The toy world: one coloured shape per image, rendered procedurally.

Every chapter trains or evaluates on this world because it is tiny, offline and
fully labelled: a scene is five attributes (shape, colour, position, size,
background) plus a style, and ``recipes.judge`` reads them back from pixels.
``star`` and the ``ink`` (水墨) style exist in the renderer and the judge but
are kept out of the base scene sampling, so later chapters can teach them as
new concepts (LoRA). This module is also the single source of vocabulary:
captions are built from ``CAPTION_WORDS`` and the judge's prompt parser reads
``keywords()``.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "shape": ("circle", "square", "triangle"),
    "color": ("red", "green", "blue", "yellow", "purple", "orange"),
    "position": ("left", "right", "top", "bottom", "center"),
    "size": ("small", "large"),
    "background": ("white", "black"),
}
BASE_SHAPES: tuple[str, ...] = ATTRIBUTES["shape"]
ALL_SHAPES: tuple[str, ...] = BASE_SHAPES + ("star",)
STYLES: tuple[str, ...] = ("plain", "ink")
# Everything the renderer and the judge understand (base values plus star and ink).
VALUES: dict[str, tuple[str, ...]] = {**ATTRIBUTES, "shape": ALL_SHAPES, "style": STYLES}

ZH: dict[str, dict[str, str]] = {
    "shape": {"circle": "圆形", "square": "正方形", "triangle": "三角形", "star": "星形"},
    "color": {"red": "红色", "green": "绿色", "blue": "蓝色", "yellow": "黄色",
              "purple": "紫色", "orange": "橙色"},
    "position": {"left": "左边", "right": "右边", "top": "上方", "bottom": "下方",
                 "center": "中间"},
    "size": {"small": "小", "large": "大"},
    "background": {"white": "白色", "black": "黑色"},
    "style": {"plain": "平涂", "ink": "水墨"},
}

# Hues are far apart (red/orange/yellow about 25 degrees) so the judge can tell
# them apart even after blur, noise or the ink style's desaturation.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 35, 35), "green": (20, 175, 60), "blue": (35, 80, 225),
    "yellow": (235, 210, 20), "purple": (145, 45, 200), "orange": (250, 125, 0),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {"white": (255, 255, 255), "black": (0, 0, 0)}
PAPER: dict[str, tuple[int, int, int]] = {"white": (240, 237, 230), "black": (32, 31, 34)}
INK_TINT = 0.25  # share of the colour in ink pigment; the rest is grey ink

# Geometry in units of the image side. Large is about 2x small (linear).
CENTERS: dict[str, tuple[float, float]] = {
    "left": (0.27, 0.5), "right": (0.73, 0.5), "top": (0.5, 0.27),
    "bottom": (0.5, 0.73), "center": (0.5, 0.5),
}
RADIUS: dict[str, float] = {"small": 0.14, "large": 0.25}  # circumradius before jitter
SHAPE_SCALE: dict[str, float] = {"circle": 0.85, "square": 0.95, "triangle": 1.0, "star": 1.0}
STAR_INNER = 0.45  # inner / outer radius of the star
POS_JITTER, SIZE_JITTER, ROT_JITTER = 0.03, 0.10, 15.0  # image units, fraction, degrees
_MARGIN = 1 / 32  # >= 1 px even at 32x32: the border ring stays pure background
_SS = 4  # supersampling factor for anti-aliasing


def shape_area(shape: str) -> float:
    """Return the area of ``shape`` in units of its squared circumradius R**2.

    The judge divides a measured area by this to recover R, so size is judged the
    same way for every shape.
    """
    s = SHAPE_SCALE[shape]
    return {"circle": math.pi * s * s, "square": 2 * s * s,
            "triangle": 3 * math.sqrt(3) / 4 * s * s,
            "star": 5 * STAR_INNER * math.sin(math.pi / 5) * s * s}[shape]


@dataclass(frozen=True)
class Scene:
    """One toy-world scene: the attributes of the single object in the image."""

    shape: str
    color: str
    position: str
    size: str
    background: str
    style: str = "plain"

    def __post_init__(self) -> None:
        for attr, value in asdict(self).items():
            if value not in VALUES[attr]:
                raise ValueError(f"{attr}={value!r}; choose one of {VALUES[attr]}")

    def as_dict(self) -> dict[str, str]:
        """Return the attributes as a dict; ``style`` is included only when it is not plain.

        Plain is the default that base captions never mention, so leaving it out
        makes ``as_dict()`` equal to what ``judge.parse_prompt`` reads from a caption.
        """
        d = asdict(self)
        if self.style == "plain":
            del d["style"]
        return d


def _as_rng(rng: random.Random | int | None) -> random.Random:
    return rng if isinstance(rng, random.Random) else random.Random(rng or 0)


def sample_scene(rng: random.Random | int, shapes: Sequence[str] = BASE_SHAPES,
                 styles: Sequence[str] = ("plain",)) -> Scene:
    """Draw a uniformly random scene from ``shapes`` and ``styles`` (base world by default).

    ``rng`` is a ``random.Random`` (advanced in place) or an int seed.
    """
    r = _as_rng(rng)
    return Scene(shape=r.choice(tuple(shapes)), color=r.choice(ATTRIBUTES["color"]),
                 position=r.choice(ATTRIBUTES["position"]), size=r.choice(ATTRIBUTES["size"]),
                 background=r.choice(ATTRIBUTES["background"]), style=r.choice(tuple(styles)))


def _polygon(shape: str, cx: float, cy: float, r: float, rot: float) -> list[tuple[float, float]]:
    if shape == "square":
        angles, radii = [45 + 90 * k for k in range(4)], [r] * 4
    elif shape == "triangle":
        angles, radii = [-90 + 120 * k for k in range(3)], [r] * 3
    else:  # star, first point up
        angles = [-90 + 36 * k for k in range(10)]
        radii = [r if k % 2 == 0 else r * STAR_INNER for k in range(10)]
    return [(cx + rr * math.cos(math.radians(a + rot)), cy + rr * math.sin(math.radians(a + rot)))
            for a, rr in zip(angles, radii, strict=True)]


def _coverage(scene: Scene, size: int, rng: random.Random) -> tuple[Image.Image, float]:
    """Anti-aliased object coverage (mode "L", drawn at 4x, box-downsampled) and R in pixels."""
    big = size * _SS
    r = RADIUS[scene.size] * (1 + rng.uniform(-SIZE_JITTER, SIZE_JITTER))
    lo, hi = r + _MARGIN, 1 - r - _MARGIN  # clamp so large off-centre objects fit
    cx, cy = (min(max(c + rng.uniform(-POS_JITTER, POS_JITTER), lo), hi)
              for c in CENTERS[scene.position])
    rot = rng.uniform(-ROT_JITTER, ROT_JITTER)
    rad = r * SHAPE_SCALE[scene.shape] * big
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    if scene.shape == "circle":
        draw.ellipse([cx * big - rad, cy * big - rad, cx * big + rad, cy * big + rad], fill=255)
    else:
        draw.polygon(_polygon(scene.shape, cx * big, cy * big, rad, rot), fill=255)
    return canvas.reduce(_SS), r * size


def _ink(scene: Scene, cover: Image.Image, radius: float, rng: random.Random) -> Image.Image:
    """Ink wash: feathered edges, uneven ink density and paper grain (seeded)."""
    size = cover.size[0]
    gen = np.random.default_rng(rng.getrandbits(64))
    # Feather in proportion to the object, like a brush: small shapes keep their corners.
    alpha = np.asarray(cover.filter(ImageFilter.GaussianBlur(0.1 * radius)), np.float32) / 255
    blotch = Image.fromarray((gen.random((6, 6)) * 255).astype(np.uint8))
    blotch = np.asarray(blotch.resize((size, size), Image.BICUBIC), np.float32) / 255
    alpha *= 0.72 + 0.28 * blotch  # uneven density, never washing out the core
    tone = 45.0 if scene.background == "white" else 205.0  # dark ink on paper, pale on black
    pigment = INK_TINT * np.array(PALETTE[scene.color], np.float32) + (1 - INK_TINT) * tone
    paper = np.array(PAPER[scene.background], np.float32)
    grain = gen.normal(0, 3.0, (size, size, 1)).astype(np.float32)
    out = paper + grain + alpha[..., None] * (pigment - paper)
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")


def render(scene: Scene, size: int = 64, seed: int = 0) -> Image.Image:
    """Render ``scene`` as a ``size`` x ``size`` RGB image; same scene and seed, same bytes.

    The seed drives small jitter (position +-3% of the side, size +-10%, rotation
    +-15 degrees for square, triangle and star) and, for the ink style, the ink
    texture. Edges are anti-aliased by drawing at 4x and box-downsampling.
    """
    # A string seed is hashed with SHA-512 by random.Random: stable across runs.
    rng = random.Random(f"{seed}|{scene.shape}|{scene.color}|{scene.position}|{scene.size}")
    cover, radius = _coverage(scene, size, rng)
    if scene.style == "ink":
        return _ink(scene, cover, radius, rng)
    fg = Image.new("RGB", cover.size, PALETTE[scene.color])
    return Image.composite(fg, Image.new("RGB", cover.size, BACKGROUNDS[scene.background]), cover)


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

# Extra words only the parser knows (never produced by captions): sane synonyms.
_PARSE_EXTRA: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "en": {
        "shape": {"circle": ("circle", "circles", "circular", "disc", "disk", "discs", "ball",
                             "round", "dot"),
                  "square": ("square", "squares", "box", "boxes", "block", "blocks"),
                  "triangle": ("triangle", "triangles", "triangular"),
                  "star": ("star", "stars", "pentagram")},
        "color": {"red": ("red", "crimson", "scarlet"), "green": ("green",),
                  "blue": ("blue", "azure"), "yellow": ("yellow", "golden", "gold"),
                  "purple": ("purple", "violet"), "orange": ("orange",)},
        "size": {"small": ("small", "little", "tiny", "smaller"),
                 "large": ("large", "big", "huge", "larger", "bigger")},
        "position": {"left": ("left", "leftmost"), "right": ("right", "rightmost"),
                     "top": ("top", "upper"), "bottom": ("bottom", "lower"),
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
