"""Chinese text in matplotlib plots, from a font installed with pip.

Matplotlib's default DejaVu Sans has no CJK glyphs, so Chinese titles render
as empty boxes ("tofu") with a "Glyph ... missing" warning. ``mplfonts`` ships
Noto Sans CJK SC inside its wheel, so no apt package and no download is needed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

# Family names we accept if already installed on the system (checked in order).
_SYSTEM_CJK_FAMILIES = (
    "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
    "SimHei", "Microsoft YaHei", "PingFang SC", "Heiti SC", "Arial Unicode MS",
)
_PROBE = "中文标题：调度器与引导系数"


def _pip_font_file() -> Path | None:
    try:
        import mplfonts
    except ImportError:
        return None
    path = Path(mplfonts.__file__).parent / "fonts" / "NotoSansCJKsc-Regular.otf"
    return path if path.is_file() else None


def _covers(path: str, text: str) -> bool:
    from matplotlib import ft2font

    charmap = ft2font.FT2Font(path).get_charmap()
    return all(ord(ch) in charmap for ch in text if not ch.isspace())


def find_cjk_font() -> tuple[str, str] | None:
    """Return ``(family, file)`` of a font that covers Simplified Chinese, or None.

    Prefers the Noto Sans CJK SC file shipped by the ``mplfonts`` wheel (same
    result on every machine), then any known CJK family matplotlib can see.
    """
    from matplotlib import font_manager, ft2font

    pip_file = _pip_font_file()
    if pip_file is not None:
        return ft2font.FT2Font(str(pip_file)).family_name, str(pip_file)
    for family in _SYSTEM_CJK_FAMILIES:
        for entry in font_manager.fontManager.ttflist:
            if entry.name == family and _covers(entry.fname, _PROBE):
                return family, entry.fname
    return None


def setup_cjk_fonts(quiet: bool = True) -> str | None:
    """Make matplotlib render Chinese; return the font family used, or None.

    Registers the CJK font with matplotlib's font manager and puts it first in
    ``font.sans-serif`` (DejaVu Sans stays as per-glyph fallback for Latin and
    symbols). Safe to call many times. If no CJK font exists, warns loudly with
    the exact fix instead of letting plots fill with boxes.
    """
    import matplotlib as mpl
    from matplotlib import font_manager

    found = find_cjk_font()
    if found is None:
        warnings.warn(
            "No Chinese (CJK) font found: Chinese plot labels will render as boxes. "
            "Fix: `pip install mplfonts` (ships Noto Sans CJK SC) and rerun "
            "recipes.setup_cjk_fonts().",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    family, path = found
    font_manager.fontManager.addfont(path)
    current = [f for f in mpl.rcParams["font.sans-serif"] if f != family]
    mpl.rcParams["font.family"] = "sans-serif"
    mpl.rcParams["font.sans-serif"] = [family, *current]
    # The CJK font has U+2212, but keep ASCII minus so numbers look like numbers.
    mpl.rcParams["axes.unicode_minus"] = False
    if not quiet:
        print(f"matplotlib CJK font: {family} ({path})")
    return family


def missing_glyphs(text: str, family: str | None = None) -> list[str]:
    """Return the characters of ``text`` that the resolved plot font cannot draw.

    Resolves the font the way matplotlib will (``findfont`` on the current
    sans-serif list, or on ``family``) and checks its character map, so an
    empty list means a title with this text renders without tofu.
    """
    import matplotlib as mpl
    from matplotlib import font_manager

    families = [family] if family else list(mpl.rcParams["font.sans-serif"])
    paths = []
    for fam in families:
        try:
            prop = font_manager.FontProperties(family=fam)
            paths.append(font_manager.findfont(prop, fallback_to_default=False))
        except ValueError:  # family listed in rcParams but not installed
            continue
    from matplotlib import ft2font

    maps = [ft2font.FT2Font(p).get_charmap() for p in dict.fromkeys(paths)]
    return [ch for ch in dict.fromkeys(text)
            if not ch.isspace() and not any(ord(ch) in m for m in maps)]
