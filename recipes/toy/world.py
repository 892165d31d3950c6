"""The toy world: one coloured shape per image, rendered procedurally.

Every chapter trains or evaluates on this world because it is tiny, offline and
fully labelled: a scene is five attributes (shape, colour, position, size,
background) plus a style, and ``recipes.toy.judge`` reads them back from pixels.
``star`` and the ``ink`` (水墨) style exist in the renderer and the judge but
are kept out of the base scene sampling, so later chapters can teach them as
new concepts (LoRA). The words for all this live in ``recipes.toy.captions``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass

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


