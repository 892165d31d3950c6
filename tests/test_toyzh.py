"""toy-zh: the character-level tokenizer, the distillation loop, and the shipped Chinese model."""

import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionPipeline
from transformers import BertModel

from recipes import captions, judge, models, promptsets, toyworld, toyzh
from recipes.pipelines.generate import generate


@pytest.fixture(scope="module")
def tokenizer():
    return toyzh.build_tokenizer()


def test_one_token_per_chinese_character_and_no_unknowns_in_captions(tokenizer):
    text = "左边有一个大的红色圆形，白色背景"
    tokens = tokenizer.tokenize(text)
    assert tokens == list(text)
    rng = random.Random(0)
    for _ in range(200):
        scene = toyworld.sample_scene(rng)
        for lang in ("zh", "en"):
            ids = tokenizer(captions.caption(scene, lang, rng)).input_ids
            assert tokenizer.unk_token_id not in ids
    assert tokenizer.model_max_length == 77


def test_unknown_english_falls_back_to_letters_not_unk(tokenizer):
    assert tokenizer.unk_token_id not in tokenizer("a zebra").input_ids


def test_augmentation_keeps_every_attribute_word():
    rng = random.Random(1)
    filler = [c for c in toyzh.common_chars(500) if c not in toyzh.attribute_chars()]
    for _ in range(100):
        scene = toyworld.sample_scene(rng)
        text = toyzh.augment_zh(captions.caption(scene, "zh", rng), rng, filler)
        parsed = judge.parse_prompt(text)
        assert all(parsed.get(k) == getattr(scene, k) for k in toyworld.ATTRIBUTES), text


def test_short_prompts_say_the_shape_and_target_the_defaults():
    """``toyzh.short_prompt``: the shape always, 0-3 other attributes, only caption words,
    none of the unseen_order set's constructions; unsaid attributes target the English
    encoder's defaults."""
    from dataclasses import replace

    from recipes.toy.en import UNSAID_DEFAULTS

    rng = random.Random(2)
    unseen = ("画一个", "有个", "放在", "背景是", "背景为", "请生成", "颜色", "位置", "尺寸")
    counts = set()
    for _ in range(500):
        scene = toyworld.sample_scene(rng)
        text, target = toyzh.short_prompt(scene, rng)
        said = judge.parse_prompt(text)
        assert said["shape"] == scene.shape and all(
            getattr(scene, k) == v for k, v in said.items()), text
        unsaid = {"color", "size", "position", "background"} - set(said)
        assert target == replace(scene, **{a: UNSAID_DEFAULTS[a] for a in unsaid}), text
        assert not any(u in text for u in unseen), text
        counts.add(4 - len(unsaid))
    assert counts == {0, 1, 2, 3}


def test_targets_cover_every_base_scene():
    scenes = toyzh.base_scenes()
    assert len(scenes) == 3 * 6 * 5 * 2 * 2 == len(set(scenes))


def test_distill_lowers_the_loss_and_saves_a_loadable_pipeline(tmp_path, tokenizer):
    teacher = models.load_pipeline("toy", device="cpu", dtype=torch.float32)
    sizes = toyzh.Sizes(steps=40, batch=8, lr=1e-3)
    student, losses = toyzh.distill(teacher, tokenizer, sizes=sizes, progress=False)
    assert sum(losses[-5:]) < sum(losses[:5])
    out = toyzh.save_toy_zh(tmp_path / "zh", teacher, student, tokenizer)
    pipe = StableDiffusionPipeline.from_pretrained(out, use_safetensors=True)
    assert isinstance(pipe.text_encoder, BertModel)
    image = pipe("红色圆形", num_inference_steps=2, generator=torch.Generator().manual_seed(0),
                 output_type="pil").images[0]
    assert image.size == (64, 64)


def test_shipped_toy_zh_shares_the_toy_unet_and_vae():
    folder = models.SHORT_NAMES["toy-zh"]
    for part in ("unet", "vae"):
        assert (folder / part).resolve() == (models.SHORT_NAMES["toy"] / part).resolve()


@pytest.fixture(scope="module")
def zh_pipe():
    return models.load_pipeline("toy-zh", device="cpu", dtype=torch.float32)


def test_load_by_name_and_by_path_give_the_same_image(zh_pipe):
    by_path = models.load_pipeline(str(models.SHORT_NAMES["toy-zh"]), device="cpu",
                                   dtype=torch.float32)
    prompt = ["左边有一个大的红色圆形，白色背景"]
    a = generate(zh_pipe, prompt, 3, steps=5)[0]
    b = generate(by_path, prompt, 3, steps=5)[0]
    assert (np.asarray(a) == np.asarray(b)).all()


@pytest.mark.parametrize("lang,bar", [("zh", 0.85), ("en", 0.8)])
def test_toy_zh_reads_chinese_and_english(zh_pipe, lang, bar):
    items = promptsets.prompt_items(32, seed=5, lang=lang)
    images = generate(zh_pipe, [it["prompt"] for it in items], 0, steps=25, batch_size=16)
    assert judge.score(images, [it["expect"] for it in items])["all_correct"] >= bar


def test_same_scenes_in_another_language():
    zh = promptsets.prompt_items(10, seed=2, lang="zh")
    en = promptsets.prompt_items(0, lang="en", scenes=[it["expect"] for it in zh])
    assert [it["expect"] for it in en] == [it["expect"] for it in zh]
    with pytest.raises(ValueError, match="lacks"):
        promptsets.prompt_items(0, scenes=[{"shape": "circle"}])


def test_cli_generates_from_a_chinese_prompt(tmp_path):
    out = tmp_path / "zh.png"
    run = subprocess.run([sys.executable, "-m", "recipes", "generate", "--model", "toy-zh",
                          "--prompt", "右边有一个小的蓝色三角形，黑色背景", "--steps", "20",
                          "--out", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert out.is_file()
