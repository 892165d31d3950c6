"""Chinese prompt tools (chapter 04): ``text`` (segmentation, styles, token budget, expansion),
``prompts`` (seeded prompt generator, glossary translation), ``safety`` (content filter: a
first line of defence, not a guarantee; see its docstring)."""

from recipes.chinese.prompts import PromptGenerator, Translation, generate_prompts, translate
from recipes.chinese.safety import (
    DEFAULT_BLOCKLIST,
    BlockedPrompt,
    ContentFilter,
    FilterResult,
    load_blocklist,
)
from recipes.chinese.text import (
    LIGHT_TERMS,
    QUALITY_TERMS,
    STYLE_TERMS,
    PromptAnalysis,
    analyze,
    detect_styles,
    expand_style,
    segment,
)

__all__ = [
    "DEFAULT_BLOCKLIST", "LIGHT_TERMS", "QUALITY_TERMS", "STYLE_TERMS", "BlockedPrompt",
    "ContentFilter", "FilterResult", "PromptAnalysis", "PromptGenerator", "Translation",
    "analyze", "detect_styles", "expand_style", "generate_prompts", "load_blocklist",
    "segment", "translate",
]
