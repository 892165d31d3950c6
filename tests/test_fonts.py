import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from recipes import fonts  # noqa: E402

TEXT = "调度器与无分类器引导：步数越多越好吗？"


def _draw(text: str) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig, ax = plt.subplots()
        ax.set_title(text)
        ax.set_xlabel("步数 −1")
        fig.canvas.draw()
        plt.close(fig)
    return [str(w.message) for w in caught if "missing" in str(w.message)]


def test_chinese_renders_without_missing_glyphs():
    family = fonts.setup_cjk_fonts()
    assert family == "Noto Sans CJK SC"
    assert fonts.missing_glyphs(TEXT) == []
    assert _draw(TEXT) == []


def test_default_font_would_show_tofu():
    # The control: without a CJK font the same check does report missing glyphs.
    missing = fonts.missing_glyphs(TEXT, family="DejaVu Sans")
    assert "调" in missing and "：" in missing


def test_setup_is_idempotent():
    fonts.setup_cjk_fonts()
    fonts.setup_cjk_fonts()
    families = matplotlib.rcParams["font.sans-serif"]
    assert families.count("Noto Sans CJK SC") == 1


def test_loud_warning_when_no_font(monkeypatch):
    monkeypatch.setattr(fonts, "find_cjk_font", lambda: None)
    with pytest.warns(RuntimeWarning, match="pip install mplfonts"):
        assert fonts.setup_cjk_fonts() is None
