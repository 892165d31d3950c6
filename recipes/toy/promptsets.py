"""Evaluation prompt sets with known answers, in the phrasings training used and in new ones.

``"templates"`` uses the caption templates the model was trained on;
``"unseen_order"`` uses the same words in sentence shapes training never saw;
``"unseen_words"`` also swaps in synonyms the captions never use;
``"unseen_grammar"`` (English only) is free English from
``recipes.toy.captions.free_caption`` with at least one construction the
English encoder distillation never trains on (request, object frame, position
or background phrase, separator). Comparing them measures how far the model
generalises beyond its captions.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from recipes.toy import captions as tc
from recipes.toy import world as tw

PHRASINGS = ("templates", "unseen_order", "unseen_words", "unseen_grammar")

_UNSEEN_TEMPLATES = {
    "en": (
        "{bgc} background with a {color} {shape} that is {size}, located {pos}",
        "{pos} of a {bgc} background you can see a {size} {color} {shape}",
        "{shape}, {color}, {size}, position: {posw}, {bgc} background",
        "picture of one {size} {color} {shape}; it sits {pos}; the background is {bgc}",
    ),
    "zh": (
        "画一个{color}{shape}，{size_de}，放在{pos}，背景是{bgc}色",
        "{pos}有个{color}的{shape}，{size_de}，背景为{bgc}色",
        "背景{bgc}色；{size}{shape}；颜色{color}；位置{pos}",
        "请生成：{bg}，{color}{shape}在{pos}，尺寸{size}",
    ),
}
# Synonyms the captions never use (the parser knows them; the model has not seen them).
_UNSEEN_WORDS = {
    "en": {"shape": {"circle": "ball", "square": "square", "triangle": "triangular shape"},
           "size": {"small": "tiny", "large": "huge"},
           "color": {"red": "crimson", "purple": "violet"}},
    "zh": {"shape": {"circle": "圆球", "square": "方框", "triangle": "三角块"},
           "size": {"small": "小号", "large": "大号"},
           "color": {"red": "朱红", "orange": "橘黄色"}},
}


def _words(scene: tw.Scene, lang: str, rng: random.Random, unseen: bool) -> dict[str, str]:
    cw = tc.CAPTION_WORDS[lang]
    slots = {slot: rng.choice(cw[slot][getattr(scene, tc._SLOT_ATTR[slot])])
             for slot in cw if slot in tc._SLOT_ATTR}
    if lang == "zh":
        slots["bgc"] = tw.ZH["background"][scene.background][0]  # 白 / 黑
    if unseen:
        for attr, table in _UNSEEN_WORDS[lang].items():
            value = getattr(scene, attr)
            if value in table:
                key = {"shape": "shape", "color": "color", "size": "size"}[attr]
                slots[key] = table[value]
                if lang == "zh" and attr == "size":
                    slots["size_de"] = table[value] + "的"
    return slots


def _scene(attrs: dict) -> tw.Scene:
    missing = [k for k in tw.ATTRIBUTES if k not in attrs]
    if missing:
        raise ValueError(f"Scene {attrs} lacks {', '.join(missing)}: give every attribute "
                         f"({', '.join(tw.ATTRIBUTES)}).")
    return tw.Scene(**{k: attrs[k] for k in (*tw.ATTRIBUTES, "style") if k in attrs})


def prompt_items(n: int, seed: int = 0, lang: str = "en", phrasing: str = "templates",
                 scenes: list[dict] | None = None) -> list[dict]:
    """Return ``n`` items ``{"prompt", "expect"}`` for random base-world scenes.

    ``expect`` is the scene's true attributes (not parsed from the prompt), so
    a prompt the parser might misread is still scored against the truth.
    ``scenes`` (attribute dicts, e.g. another set's ``expect`` values) fixes the
    scenes instead of drawing them, so two languages can be compared on the
    same attribute sets; ``n`` is then ignored.
    """
    if phrasing not in PHRASINGS:
        raise ValueError(f"Unknown phrasing {phrasing!r}; choose one of: {', '.join(PHRASINGS)}")
    if phrasing == "unseen_grammar" and lang != "en":
        raise ValueError("The unseen_grammar phrasing is English only: use --lang en.")
    rng = random.Random(f"{seed}-{lang}-{phrasing}")
    fixed = None if scenes is None else [_scene(s) for s in scenes]
    items = []
    for i in range(n if fixed is None else len(fixed)):
        scene = tw.sample_scene(rng) if fixed is None else fixed[i]
        if phrasing == "templates":
            prompt = tc.caption(scene, lang, rng)
        elif phrasing == "unseen_grammar":
            prompt = tc.free_caption(scene, rng, split="heldout")
        else:
            template = rng.choice(_UNSEEN_TEMPLATES[lang])
            prompt = template.format(**_words(scene, lang, rng, phrasing == "unseen_words"))
            if lang == "en":
                prompt = prompt.replace(" a orange", " an orange").replace("A orange", "An orange")
        items.append({"prompt": prompt, "expect": scene.as_dict()})
    return items


def write_jsonl(items: list[dict], path: str | Path) -> Path:
    """Write items as JSON Lines (UTF-8, Chinese kept readable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items),
                    encoding="utf-8")
    return path
