"""The playground app (chapter 12), driven as a user would but without a browser:
set widget values, click the button, read the image, judge line, history and error line."""

import json

import ipywidgets as W
import numpy as np
import pytest

from recipes.playground import Playground, find_controlnets, find_loras, outline_from_prompt
from recipes.playground.app import RED

STEPS = 8


@pytest.fixture(scope="module")
def toy_zh_pipe():
    from recipes.pipelines.models import load_pipeline

    return load_pipeline("toy-zh", device="cpu")


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def test_click_generates_image_judge_and_history(toy_pipe, tmp_path):
    app = Playground("toy", pipes={"toy": toy_pipe}, assets=tmp_path)
    seen = []
    step = app._on_step
    app._on_step = lambda *a: (seen.append((app.button.disabled, app.progress.value)), step(*a))[1]
    app.prompt.value = "a large red circle on the left, white background"
    app.steps.value = STEPS
    app.button.click()
    assert app.error.value == ""
    assert app.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    # the callback ran once per step with the button disabled; enabled again afterwards
    assert [s[0] for s in seen] == [True] * STEPS and app.progress.value == STEPS
    assert not app.button.disabled
    assert set(app.last["checks"]) == {"shape", "color", "position", "size", "background"}
    assert app.last["all_ok"], app.judge_line.value
    assert app.judge_line.value.count("✓") == 5 and "✗" not in app.judge_line.value
    assert " s</span>" in app.info.value and len(app.history.children) == 1
    # same seed, same image; the history keeps the newest first
    first = app.last["image"]
    app.button.click()
    assert np.array_equal(np.asarray(app.last["image"]), np.asarray(first))
    assert len(app.history.children) == 2


def test_chinese_prompt_on_toy_zh(toy_zh_pipe, tmp_path):
    app = Playground(pipes={"toy-zh": toy_zh_pipe}, assets=tmp_path)
    assert app.model.value == "toy-zh"
    app.prompt.value = "右边一个小的蓝色正方形，黑色背景"
    app.steps.value, app.scheduler.value = STEPS, "euler"
    out = app.generate()
    assert out is not None and out["all_ok"], app.judge_line.value
    assert "✗" not in app.judge_line.value and app.judge_line.value.count("✓") == 5
    assert type(toy_zh_pipe.scheduler).__name__ == "EulerDiscreteScheduler"
    app.scheduler.value = ""  # back to the model's own scheduler
    app.generate()
    assert type(toy_zh_pipe.scheduler).__name__ != "EulerDiscreteScheduler"


@pytest.mark.parametrize("field,value,expect", [
    ("prompt", "   ", "提示词为空"),
    ("prompt", "一个裸体的人，白色背景", "内容过滤"),
    ("seed", -1, "种子"),
    ("prompt", "红色的圆形", "toy-zh"),  # Chinese on the English-only model
])
def test_bad_input_is_one_red_line(toy_pipe, tmp_path, field, value, expect):
    app = Playground("toy", pipes={"toy": toy_pipe}, assets=tmp_path)
    getattr(app, field).value = value
    app.button.click()
    assert expect in app.error.value and RED in app.error.value
    assert app.error.value.count("<div") == 1 and "\n" not in app.error.value
    assert "Traceback" not in app.error.value
    assert app.image.value == b"" and app.last is None and not app.button.disabled
    # fixing the input clears the line
    app.prompt.value, app.seed.value, app.steps.value = "a red circle", 0, 2
    app.button.click()
    assert app.error.value == "" and app.last is not None


def test_random_seed_is_drawn_and_shown(toy_pipe, tmp_path):
    app = Playground("toy", pipes={"toy": toy_pipe}, assets=tmp_path)
    app.prompt.value, app.steps.value, app.random_seed.value = "a green star", 2, True
    seeds = set()
    for _ in range(2):
        app.button.click()
        seeds.add(app.seed.value)
        assert f"seed {app.seed.value}" in app.info.value
    assert len(seeds) == 2


def test_optional_controls_follow_the_assets(tmp_path):
    assert not Playground("toy", assets=tmp_path).loras
    lora = tmp_path / "lora-star"
    lora.mkdir()
    (lora / "pytorch_lora_weights.safetensors").write_bytes(b"")
    peft = tmp_path / "group" / "ink"
    peft.mkdir(parents=True)
    (peft / "adapter_config.json").write_text("{}")
    (peft / "adapter_model.safetensors").write_bytes(b"")
    net = tmp_path / "toy-controlnet"
    net.mkdir()
    (net / "config.json").write_text(json.dumps({"_class_name": "ControlNetModel"}))
    (net / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "config.json").write_text(json.dumps({"_class_name": "UNet2D"}))
    assert [(a.name, a.layout) for a in find_loras(tmp_path)] == [("ink", "peft"),
                                                                 ("lora-star", "diffusers")]
    assert find_controlnets(tmp_path) == [net]
    app = Playground("toy", assets=tmp_path)
    shown = list(_walk(app.widget))
    assert all(w in shown for w in app.loras.values()) and app.controlnet in shown
    bare = list(_walk(Playground("toy", assets=tmp_path / "none").widget))
    assert app.controlnet not in bare
    (lora / "guidance.json").write_text(json.dumps({"recommended": 3.0}))
    text = " ".join(w.value for w in _walk(Playground("toy", assets=tmp_path).widget)
                    if isinstance(w, W.HTML))
    assert "recommended guidance: lora-star 3" in text


def test_lora_weight_changes_the_image(toy_pipe, tmp_path):
    """A real adapter in the diffusers layout: weight 0 is the base model, weight 1 is not."""
    import copy

    import torch
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    # own UNet copies: the adapter must not leak into the shared fixture
    pipe = StableDiffusionPipeline(**{**toy_pipe.components, "unet": copy.deepcopy(toy_pipe.unet)})
    unet = copy.deepcopy(toy_pipe.unet)
    unet.add_adapter(LoraConfig(r=2, target_modules=["to_q", "to_v"]))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in unet.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    StableDiffusionPipeline.save_lora_weights(
        tmp_path / "lora-test",
        unet_lora_layers=convert_state_dict_to_diffusers(get_peft_model_state_dict(unet)),
        safe_serialization=True)
    app = Playground("toy", pipes={"toy": pipe}, assets=tmp_path)
    assert list(app.loras) == ["lora-test"]
    app.prompt.value, app.steps.value = "a red circle", 3
    base = app.generate()["image"]
    app.loras["lora-test"].value = 1.0
    changed = app.generate()["image"]
    app.loras["lora-test"].value = 0.0
    again = app.generate()["image"]
    assert not np.array_equal(np.asarray(changed), np.asarray(base))
    assert np.array_equal(np.asarray(again), np.asarray(base))


def test_outline_from_prompt_is_an_edge_image():
    img = outline_from_prompt("左边一个大的红色圆形", size=64)
    assert img.size == (64, 64)
    values = set(np.unique(np.asarray(img.convert("L"))).tolist())
    assert values <= {0, 255} and 255 in values and 0 in values
