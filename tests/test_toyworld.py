"""Tests for the toy-world renderer, captions and dataset builder."""

from __future__ import annotations

import random
import re
import time
from dataclasses import replace

import numpy as np
import pytest

from recipes.toy import captions as tc
from recipes.toy import world as tw


def test_vocabulary_tables_are_complete():
    assert tw.BASE_SHAPES == ("circle", "square", "triangle")
    assert tw.ALL_SHAPES == tw.BASE_SHAPES + ("star",)
    assert "star" not in tw.ATTRIBUTES["shape"] and "style" not in tw.ATTRIBUTES
    for attr, values in tw.VALUES.items():
        assert set(tw.ZH[attr]) == set(values), attr
    assert tw.ZH["style"]["ink"] == "水墨" and tw.ZH["shape"]["star"] == "星形"


def test_scene_validates_and_as_dict_hides_plain_style():
    scene = tw.Scene("circle", "red", "left", "large", "white")
    assert scene.as_dict() == {"shape": "circle", "color": "red", "position": "left",
                               "size": "large", "background": "white"}
    assert replace(scene, style="ink").as_dict()["style"] == "ink"
    with pytest.raises(ValueError, match="color"):
        tw.Scene("circle", "pink", "left", "large", "white")


def test_sample_scene_covers_base_world_only():
    rng = random.Random(0)
    scenes = [tw.sample_scene(rng) for _ in range(400)]
    for attr, values in tw.ATTRIBUTES.items():
        assert {getattr(s, attr) for s in scenes} == set(values), attr
    assert {s.style for s in scenes} == {"plain"}
    assert tw.sample_scene(3) == tw.sample_scene(3)
    extended = {tw.sample_scene(i, tw.ALL_SHAPES, tw.STYLES) for i in range(200)}
    assert {s.shape for s in extended} == set(tw.ALL_SHAPES)
    assert {s.style for s in extended} == set(tw.STYLES)


@pytest.mark.parametrize("style", tw.STYLES)
def test_render_is_deterministic_and_seed_changes_jitter(style):
    scene = tw.Scene("triangle", "orange", "top", "small", "black", style)
    a, b = tw.render(scene, seed=7), tw.render(scene, seed=7)
    assert a.tobytes() == b.tobytes()
    assert tw.render(scene, seed=8).tobytes() != a.tobytes()


@pytest.mark.parametrize("size", [32, 64, 128])
def test_render_sizes_and_large_objects_fit(size):
    for i, pos in enumerate(("left", "right", "top", "bottom", "center")):
        for seed in range(6):
            scene = tw.Scene(tw.ALL_SHAPES[(i + seed) % 4], "blue", pos, "large", "white")
            img = tw.render(scene, size=size, seed=seed)
            assert img.size == (size, size) and img.mode == "RGB"
            a = np.asarray(img)
            ring = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
            assert (ring == 255).all(), f"{scene} touches the frame at {size}px"
            assert (a != 255).any(axis=-1).mean() > 0.04  # and it is really large


def test_large_is_about_twice_small():
    def area(size_name):
        scene = tw.Scene("square", "red", "center", size_name, "black")
        return np.mean([(np.asarray(tw.render(scene, seed=s))[..., 0] > 110).mean()
                        for s in range(10)])
    ratio = (area("large") / area("small")) ** 0.5
    assert 1.6 < ratio < 2.4


def test_render_is_anti_aliased_and_ink_differs_from_plain():
    plain = tw.Scene("circle", "red", "center", "large", "white")
    a = np.asarray(tw.render(plain)).astype(int)
    # Anti-aliasing leaves partially covered edge pixels between the two colours.
    partial = ~((a == 255).all(-1) | (a == tw.PALETTE["red"]).all(-1))
    assert 10 < partial.sum() < 200
    ink = np.asarray(tw.render(replace(plain, style="ink"))).astype(int)
    chroma = ink.max(-1) - ink.min(-1)
    assert chroma.max() < 80  # grey-ish ink, a faint tint of the colour at most
    assert ink[32, 32].sum() < 300  # dark ink in the middle of light paper
    assert np.unique(ink.reshape(-1, 3), axis=0).shape[0] > 200  # texture, soft edges


def _mentions(text: str, word: str, lang: str) -> bool:
    return re.search(rf"\b{re.escape(word)}\b", text) is not None if lang == "en" else word in text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_captions_vary_and_mention_every_attribute(lang):
    rng = random.Random(1)
    words = tc.CAPTION_WORDS[lang]
    seen_templates, captions = set(), set()
    for _ in range(200):
        scene = tw.sample_scene(rng, tw.ALL_SHAPES, tw.STYLES)
        i = rng.randrange(len(tc.caption_templates(lang)))
        text = tc.caption(scene, lang, rng, template=i)
        seen_templates.add(i)
        captions.add(text)
        for attr in ("shape", "color", "position", "size", "background"):
            options = [w for slot, a in tc._SLOT_ATTR.items() if a == attr and slot in words
                       for w in words[slot][getattr(scene, attr)]]
            assert any(_mentions(text, w, lang) for w in options), (attr, text)
        if scene.style == "ink":
            assert ("ink" if lang == "en" else "水墨") in text
    assert len(seen_templates) == len(tc.caption_templates(lang)) >= 6
    assert len(captions) > 150


def test_caption_canonical_form_and_grammar():
    scene = tw.Scene("circle", "red", "left", "large", "white")
    assert tc.caption(scene) == "a large red circle on the left, white background"
    assert tc.caption(scene, "zh") == "白色背景上左边有一个大的红色圆形"
    orange = tw.Scene("star", "orange", "center", "small", "black")
    texts = {tc.caption(orange, "en", seed) for seed in range(60)}
    assert not any(re.search(r"\ba (?=[aeiou])", t) for t in texts), texts
    assert tc.caption(scene, "en", 5) == tc.caption(scene, "en", random.Random(5))


def test_keywords_cover_caption_words():
    zh = tc.keywords("zh")
    for slot, values in tc.CAPTION_WORDS["zh"].items():
        for value, words in values.items():
            assert all(zh[w] == (tc._SLOT_ATTR[slot], value) for w in words)
    en = tc.keywords("en")
    assert en["big"] == ("size", "large") and en["centre"] == ("position", "center")


def test_make_dataset_is_deterministic_mixed_language_and_fast():
    a = tc.make_dataset(40, seed=3, lang=("en", "zh"), shapes=tw.ALL_SHAPES, styles=tw.STYLES)
    b = tc.make_dataset(40, seed=3, lang=("en", "zh"), shapes=tw.ALL_SHAPES, styles=tw.STYLES)
    assert [r.caption for r in a] == [r.caption for r in b]
    assert all(x.image.tobytes() == y.image.tobytes() for x, y in zip(a, b, strict=True))
    assert any(re.search("[\u4e00-\u9fff]", r.caption) for r in a)
    assert any(r.caption.isascii() for r in a)
    image, text, scene = a[0]
    assert image.size == (64, 64) and isinstance(text, str) and isinstance(scene, tw.Scene)
    assert tc.make_dataset(5, seed=4)[0].caption != a[0].caption
    start = time.perf_counter()
    tc.make_dataset(1000, seed=0)
    assert time.perf_counter() - start < 3.0  # measured ~0.15 s on one CPU core
