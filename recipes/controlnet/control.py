"""Control input for ``python -m recipes generate --controlnet ... --control ...``.

Everything is checked before any weights load: a bad control input prints one
line saying what to do and exits 2 (``UsageError``). Conditions are white
structure on black, like the hub's canny ControlNets; a drawing in black on
white is inverted with a note, an image of the wrong size is resized with a
note, and a photo-like image needs ``--control-preprocess canny`` (or region).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from recipes.controlnet import conditions as cc
from recipes.course.cli_args import UsageError

MAX_SCALE = 2.0
_MODES = {"1", "L", "P", "RGB", "RGBA", "LA"}


@dataclass
class Control:
    """A checked control request: ControlNet name, condition image and scale."""

    controlnet: str
    image: Image.Image
    scale: float

    def pipe_kwargs(self) -> dict:
        """Keyword arguments for a StableDiffusionControlNetPipeline call."""
        return {"image": self.image, "controlnet_conditioning_scale": self.scale}


def add_control_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--controlnet``, ``--control``, ``--control-scale`` and ``--control-preprocess``."""
    from recipes.controlnet.load import SHORT_NAMES

    names = ", ".join(SHORT_NAMES)
    parser.add_argument("--controlnet", default=None,
                        help=f"ControlNet: {names}, a folder or a Hub id "
                             "(default: none), e.g. --controlnet toy-canny")
    parser.add_argument("--control", default=None,
                        help="condition image (white outline on black; default: none), "
                             "e.g. --control edges.png")
    parser.add_argument("--control-scale", type=float, default=1.0,
                        help=f"controlnet_conditioning_scale, 0 to {MAX_SCALE:g} "
                             "(default: 1.0), e.g. --control-scale 0.5")
    parser.add_argument("--control-preprocess", default="none",
                        choices=("none", *cc.CONDITIONS),
                        help="turn a plain picture into the condition first (default: none), "
                             "e.g. --control-preprocess canny")


def _note(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)


def read_control(path: str, size: int, preprocess: str = "none") -> Image.Image:
    """Open, check and convert a control image to an RGB ``size``×``size`` condition.

    Raises ``UsageError`` (one line) for a missing or unreadable file, an
    unsupported mode, an empty condition, or a photo given without a preprocessor.
    """
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"--control {path!r}: file not found; give a PNG/JPEG condition image")
    try:
        with Image.open(p) as im:
            im.load()
            image = im.copy()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UsageError(f"--control {path!r}: not a readable image ({type(exc).__name__}); "
                         "give a PNG or JPEG file") from exc
    if image.mode not in _MODES:
        raise UsageError(f"--control {path!r}: image mode {image.mode} is not supported; "
                         "save it as 8-bit RGB or greyscale PNG")
    if image.mode in ("RGBA", "LA"):  # transparent pixels count as background
        bg = Image.new("RGBA", image.size, (0, 0, 0, 255) if preprocess == "none"
                       else (255, 255, 255, 255))
        image = Image.alpha_composite(bg, image.convert("RGBA"))
    image = image.convert("RGB")
    if image.size != (size, size):
        _note(f"--control is {image.size[0]}x{image.size[1]}; resized to {size}x{size}")
    if preprocess != "none":  # the same conversion the ControlNet was trained on
        return cc.from_drawing(image, size, preprocess)
    image = image.resize((size, size), Image.BILINEAR) if image.size != (size, size) else image
    grey = np.asarray(image.convert("L"), np.float32)
    colourful = float((np.asarray(image, np.float32).std(axis=-1) > 25).mean())
    mid = float(((grey > 40) & (grey < 215)).mean())
    if colourful > 0.01 or mid > 0.25:  # conditions are grey-level outlines, not pictures
        raise UsageError(f"--control {path!r} looks like a picture, not a condition (white "
                         "outline on black); add --control-preprocess canny")
    if (grey > 127).mean() > 0.5:
        _note("--control is dark on light; inverted to white on black as ControlNets expect")
        image = Image.fromarray(255 - np.asarray(image))
    top = int(np.asarray(image.convert("L")).max())
    if 48 <= top <= 127:  # a thin pen line that resizing made faint: stretch it back to white
        _note(f"--control lines are faint after resizing (brightest {top}/255); contrast "
              "stretched (--control-preprocess canny also reads thin lines)")
        a = np.asarray(image, np.float32) * (255.0 / top)
        image = Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8))
    if (np.asarray(image.convert("L")) > 127).sum() == 0:
        raise UsageError(f"--control {path!r} is empty (no white pixels); draw a white "
                         "outline on black")
    return image


def check_control(args: argparse.Namespace, size: int) -> Control | None:
    """Validate the control options of ``args`` (before loading); None when not used."""
    from recipes.controlnet.load import resolve_controlnet

    if args.controlnet is None and args.control is None:
        if args.control_preprocess != "none" or args.control_scale != 1.0:
            raise UsageError("--control-scale/--control-preprocess need --controlnet and "
                             "--control, e.g. --controlnet toy-canny --control edges.png")
        return None
    if args.controlnet is None or args.control is None:
        raise UsageError("use --controlnet and --control together, e.g. "
                         "--controlnet toy-canny --control edges.png")
    if not 0.0 <= args.control_scale <= MAX_SCALE:
        raise UsageError(f"--control-scale must be from 0 to {MAX_SCALE:g}, "
                         f"got {args.control_scale:g}")
    image = read_control(args.control, size, args.control_preprocess)
    try:
        resolve_controlnet(args.controlnet)
    except RuntimeError as exc:
        raise UsageError(str(exc)) from exc
    return Control(args.controlnet, image, args.control_scale)


def controlled(pipe, control: Control):
    """A StableDiffusionControlNetPipeline around ``pipe``'s parts with ``control``'s ControlNet."""
    from recipes.controlnet.load import load_controlnet
    from recipes.controlnet.train import controlnet_pipeline

    try:
        net = load_controlnet(control.controlnet, device=str(pipe.device), dtype=pipe.dtype)
    except RuntimeError as exc:
        raise UsageError(str(exc)) from exc
    if net.config.cross_attention_dim != pipe.unet.config.cross_attention_dim:
        raise UsageError(f"ControlNet {control.controlnet!r} does not fit this model "
                         f"(cross-attention {net.config.cross_attention_dim} vs "
                         f"{pipe.unet.config.cross_attention_dim}); use one trained for it")
    return controlnet_pipeline(pipe, net)
