"""Control conditions (Canny edges, filled region masks) and how well an image follows them.

Conditions are made the way the real ControlNets expect them: RGB images in
[0, 255], white structure on black, the size of the generated image.
``canny`` calls ``cv2.Canny`` exactly as the preprocessor of
``lllyasviel/sd-controlnet-canny`` does (grey image, two hysteresis
thresholds); ``region`` is a filled object mask (a coarse "segmentation" map).

Adherence is measured with the two metrics ControlNet++ reports for these
conditions: IoU between the generated object's mask and the control region,
and an edge F1 between Canny edges of the output and the control edges (with a
1-pixel tolerance, since a 64×64 edge that is off by one pixel is still the same
outline).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

CONDITIONS = ("canny", "region")
# lllyasviel's annotator defaults are 100/200 on 512 px photos; the toy's flat shapes have
# one clean step edge, and a yellow square on white is only ~60 grey levels of contrast,
# so lower thresholds keep every colour's outline.
CANNY_LOW, CANNY_HIGH = 50, 100


def _rgb(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), np.uint8)
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    if a.dtype != np.uint8:
        a = np.clip(a * (255.0 if a.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return a[..., :3]


def canny(
    image: Image.Image | np.ndarray, low: int = CANNY_LOW, high: int = CANNY_HIGH
) -> Image.Image:
    """Canny edges of ``image`` as an RGB PIL image (white edges on black), same size.

    The input is converted to grey and passed to ``cv2.Canny(grey, low, high)``;
    the single-channel result is repeated to three channels, the layout
    ``StableDiffusionControlNetPipeline`` and the hub's canny ControlNets expect.
    """
    grey = cv2.cvtColor(_rgb(image), cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(grey, low, high)
    return Image.fromarray(np.stack([edges] * 3, axis=-1), "RGB")


def object_mask(image: Image.Image | np.ndarray, min_contrast: float = 40.0) -> np.ndarray:
    """Boolean mask of the object in a toy-world-like image (one shape on a flat background).

    The background colour is the median of the border pixels; a pixel belongs to
    the object when it differs from it by more than half the image's strongest
    contrast (the 50% coverage line of an anti-aliased edge). An image with no
    contrast above ``min_contrast`` (grey levels) has an empty mask.
    """
    a = _rgb(image).astype(np.float32)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    dist = np.abs(a - np.median(border, axis=0)).max(axis=-1)
    top = float(np.percentile(dist, 99.5))
    if top < min_contrast:
        return np.zeros(dist.shape, bool)
    return dist > 0.5 * top


def region(image: Image.Image | np.ndarray) -> Image.Image:
    """The filled object mask of ``image`` as an RGB condition image (white object on black)."""
    m = object_mask(image).astype(np.uint8) * 255
    return Image.fromarray(np.stack([m] * 3, axis=-1), "RGB")


def make_condition(kind: str, image: Image.Image | np.ndarray) -> Image.Image:
    """Turn a photo-like ``image`` into the ``kind`` condition ("canny" or "region")."""
    if kind == "canny":
        return canny(image)
    if kind == "region":
        return region(image)
    raise ValueError(f"Unknown condition {kind!r}: use one of {', '.join(CONDITIONS)}.")


def fill_outline(edges: Image.Image | np.ndarray) -> np.ndarray:
    """The region enclosed by a (closed) white outline: the outline plus its filled holes."""
    e = _rgb(edges).max(axis=-1) > 127
    return ndimage.binary_fill_holes(e)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def edge_f1(
    pred_edges: Image.Image | np.ndarray, ref_edges: Image.Image | np.ndarray, tolerance: int = 1
) -> float:
    """F1 of two edge maps, an edge pixel counting as matched within ``tolerance`` pixels.

    Precision is the share of predicted edge pixels near a reference edge, recall
    the share of reference edge pixels near a predicted one; both empty gives 1.0.
    """
    p = _rgb(pred_edges).max(axis=-1) > 127
    r = _rgb(ref_edges).max(axis=-1) > 127
    if not p.any() and not r.any():
        return 1.0
    if not p.any() or not r.any():
        return 0.0
    k = np.ones((2 * tolerance + 1,) * 2, bool)
    precision = (p & ndimage.binary_dilation(r, k)).sum() / p.sum()
    recall = (r & ndimage.binary_dilation(p, k)).sum() / r.sum()
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


def adherence(
    images: Sequence[Image.Image], controls: Sequence[Image.Image], regions: Sequence[np.ndarray]
) -> dict[str, float]:
    """Mean IoU (object mask vs ``regions``) and mean edge F1 (canny(image) vs ``controls``)."""
    ious = [iou(object_mask(im), r) for im, r in zip(images, regions, strict=True)]
    f1s = [edge_f1(canny(im), c) for im, c in zip(images, controls, strict=True)]
    return {"iou": float(np.mean(ious)), "edge_f1": float(np.mean(f1s))}


def polygon(
    sides: int,
    size: int = 64,
    radius: float = 0.3,
    center: tuple[float, float] = (0.5, 0.5),
    rotation: float = 0.0,
    star: float | None = None,
) -> Image.Image:
    """A filled white polygon (or a star when ``star`` is the inner/outer ratio) on black.

    Used to draw shapes the toy world never had (hexagon, pentagon, a 6-point
    star) at ``size`` pixels; ``canny`` of it is a control outline and
    ``object_mask`` of it the region to compare with.
    """
    big = size * 4
    pts, n = [], sides * (2 if star else 1)
    for k in range(n):
        r = radius * (star if star and k % 2 else 1.0) * big
        a = math.radians(-90 + rotation + 360 * k / n)
        pts.append((center[0] * big + r * math.cos(a), center[1] * big + r * math.sin(a)))
    canvas = Image.new("L", (big, big), 0)
    ImageDraw.Draw(canvas).polygon(pts, fill=255)
    return canvas.reduce(4).convert("RGB")


# --- Drawn outlines: what a user passes to the CLI, and the training data that teaches it ---

DRAWN_KINDS = ("polygon", "ellipse", "star", "blob", "letter", "circle", "square", "triangle")
_SS = 4  # drawings are made at 4x and downsampled, like a user's larger canvas resized by the CLI


def drawn_shape(rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, str]:
    """A random filled shape outside the toy world, as an anti-aliased coverage map in [0, 1].

    The kind is drawn from ``DRAWN_KINDS``: irregular polygons (3-8 corners),
    ellipses, stars (4-8 points), smooth random blobs, a thick ``cv2.putText``
    letter or digit, and circles/squares/triangles at any place, size and
    rotation (those keep their world name in captions). Returns the
    ``size``×``size`` float32 coverage and the kind.
    """
    for _ in range(8):  # redraw the rare sliver (a thin random polygon) so every shape is visible
        cover, kind = _draw_once(rng, size)
        if (cover > 0.5).sum() >= 0.01 * size * size:
            break
    return cover, kind


def _draw_once(rng: np.random.Generator, size: int) -> tuple[np.ndarray, str]:
    big = size * _SS
    kind = DRAWN_KINDS[int(rng.integers(len(DRAWN_KINDS)))]
    canvas = np.zeros((big, big), np.uint8)
    r = rng.uniform(0.12, 0.34) * big
    cx, cy = (rng.uniform(r + big * 0.04, big - r - big * 0.04) for _ in range(2))
    rot = rng.uniform(0, 2 * math.pi)
    if kind == "letter":
        glyph = str(rng.choice(list("ABCDEFGHKLMNPRSTUVWXYZ23457")))
        scale = r / 14.0
        thick = max(2, int(scale * rng.uniform(3.0, 6.0)))
        (w, h), _ = cv2.getTextSize(glyph, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        org = (int(cx - w / 2), int(cy + h / 2))
        cv2.putText(canvas, glyph, org, cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thick, cv2.LINE_AA)
    elif kind in ("ellipse", "circle"):
        axes = (r, r) if kind == "circle" else (r, r * rng.uniform(0.35, 0.9))
        cv2.ellipse(canvas, (int(cx), int(cy)), (int(axes[0]), int(axes[1])),
                    math.degrees(rot), 0, 360, 255, -1, cv2.LINE_AA)
    else:
        if kind == "blob":
            n = 48
            k = np.arange(1, 4)
            amp, phase = rng.uniform(0.05, 0.22, 3) / k, rng.uniform(0, 2 * math.pi, 3)
            ang = np.linspace(0, 2 * math.pi, n, endpoint=False)
            rad = r * (1 + (amp[:, None] * np.cos(k[:, None] * ang + phase[:, None])).sum(0))
        elif kind == "star":
            n = 2 * int(rng.integers(4, 9))
            ang = np.linspace(0, 2 * math.pi, n, endpoint=False)
            rad = np.where(np.arange(n) % 2, r * rng.uniform(0.35, 0.6), r)
        elif kind == "polygon":
            n = int(rng.integers(3, 9))
            ang = np.sort(rng.uniform(0, 2 * math.pi, n))
            rad = r * rng.uniform(0.6, 1.0, n)
        else:  # square, triangle: regular, any rotation
            n = 4 if kind == "square" else 3
            ang = np.linspace(0, 2 * math.pi, n, endpoint=False)
            rad = np.full(n, r * (0.85 if kind == "square" else 1.0))
        pts = np.stack([cx + rad * np.cos(ang + rot), cy + rad * np.sin(ang + rot)], -1)
        cv2.fillPoly(canvas, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    cover = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return cover.astype(np.float32) / 255.0, kind


def paint(cover: np.ndarray, color: tuple[int, int, int], background: tuple[int, int, int]
          ) -> Image.Image:
    """Composite a flat ``color`` object with ``cover`` (coverage in [0, 1]) on ``background``."""
    c = np.asarray(cover, np.float32)[..., None]
    out = np.asarray(background, np.float32) * (1 - c) + np.asarray(color, np.float32) * c
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")


def sketch(cover: np.ndarray, rng: np.random.Generator, canvas: int = 256,
           width: float | None = None, filled: bool | None = None, jitter: float = 0.6
           ) -> Image.Image:
    """A user-style drawing of the object in ``cover``: black strokes on white, ``canvas`` px.

    The object's outer contours are traced, each point moved by up to ``jitter``
    pixels (at the cover's size), and drawn with a pen ``width`` (relative to the
    canvas, random 1-5% when None); ``filled`` (random, 20%) paints the inside
    black too. This is what someone draws in a paint program and passes with
    ``--control``; ``from_drawing`` turns it into a condition as the CLI does.
    """
    mask = (np.asarray(cover) > 0.5).astype(np.uint8)
    size = mask.shape[0]
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    k = canvas / size
    out = np.full((canvas, canvas), 255, np.uint8)
    width = rng.uniform(0.008, 0.05) if width is None else width
    filled = bool(rng.random() < 0.2) if filled is None else filled
    polys = []
    for c in contours:
        pts = c[:, 0, :].astype(np.float32) + 0.5
        pts = pts + rng.uniform(-jitter, jitter, pts.shape).astype(np.float32)
        polys.append(np.round(pts * k * 16).astype(np.int32))
    if filled:
        cv2.fillPoly(out, polys, 0, cv2.LINE_AA, shift=4)
    cv2.polylines(out, polys, True, 0, max(1, int(round(width * canvas))), cv2.LINE_AA, shift=4)
    return Image.fromarray(out).convert("RGB")


def from_drawing(image: Image.Image, size: int = 64, preprocess: str = "none") -> Image.Image:
    """Turn a drawing or picture into a ``size``-px condition exactly as the CLI does.

    The image is resized (LANCZOS when a preprocessor follows, else bilinear);
    with ``preprocess`` "canny"/"region" that condition is made from it;
    otherwise a dark-on-light drawing is inverted to white on black.
    """
    image = image.convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.LANCZOS if preprocess != "none"
                             else Image.BILINEAR)
    if preprocess != "none":
        return make_condition(preprocess, image)
    if (np.asarray(image.convert("L")) > 127).mean() > 0.5:
        image = Image.fromarray(255 - np.asarray(image))
    return image


def training_condition(image: Image.Image, cover: np.ndarray, rng: np.random.Generator,
                       p_sketch: float = 0.5) -> Image.Image:
    """The condition for one training image: clean Canny, or a user-style drawing of it.

    With probability ``1 - p_sketch`` it is ``canny(image)``; otherwise a
    ``sketch`` of the object passed through ``from_drawing`` with the "canny"
    preprocessor (double edges along each stroke) or as a plain inverted edge map.
    """
    if rng.random() >= p_sketch:
        return canny(image)
    drawing = sketch(cover, rng, canvas=int(rng.choice([64, 128, 256, 512])))
    return from_drawing(drawing, image.size[0], "canny" if rng.random() < 0.6 else "none")
