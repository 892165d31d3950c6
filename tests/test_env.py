import subprocess
import sys
import urllib.error

import pytest
import torch

import recipes
from recipes.course import env
from recipes.hub import settings as hub


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.delenv("RECIPES_DEVICE", raising=False)


def test_falls_back_to_cpu_without_cuda(no_gpu):
    assert env.pick_device() == "cpu"
    assert env.pick_dtype() == torch.float32


def test_prefers_cuda_then_mps(monkeypatch, no_gpu):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert env.pick_device() == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert env.pick_device() == "cuda"


def test_dtype_per_device():
    assert env.pick_dtype("cuda") == torch.float16
    assert env.pick_dtype("cuda:1") == torch.float16
    assert env.pick_dtype("mps") == torch.float16
    assert env.pick_dtype("cpu") == torch.float32


def test_unavailable_device_is_a_clear_error(no_gpu):
    with pytest.raises(RuntimeError, match="not available here; available: cpu"):
        env.pick_device("cuda")


def test_device_from_environment(monkeypatch, no_gpu):
    monkeypatch.setenv("RECIPES_DEVICE", "cpu")
    assert env.pick_device() == "cpu"
    monkeypatch.setenv("RECIPES_DEVICE", "cuda")
    with pytest.raises(RuntimeError):
        env.pick_device()


def test_dtype_support_on_cpu():
    support = env.dtype_support("cpu", measure=True)
    assert set(support) == {"float32", "bfloat16", "float16"}
    assert support["float32"]["works"] and support["float32"]["ms"] > 0


def test_report_sections_and_versions(no_gpu):
    rep = recipes.report()
    assert list(rep) == ["versions", "device", "dtypes", "huggingface", "profile"]
    for pkg in ("torch", "diffusers", "transformers", "accelerate", "peft", "jieba"):
        assert rep["versions"][pkg], pkg
    assert rep["device"]["device"] == "cpu"
    assert rep["device"]["cpu_cores"] >= 1 and rep["device"]["torch_threads"] >= 1
    assert rep["dtypes"]["recommended"] == "float32"
    assert rep["huggingface"]["offline"] is True  # conftest / Makefile force offline
    text = str(rep)
    assert "[device]" in text and "torch" in text
    assert rep._repr_markdown_().startswith("| 项目")


def test_report_never_shows_token(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_123")
    assert "hf_secret_value_123" not in str(recipes.report())


def test_checklist_passes_here_and_failures_carry_fixes():
    checks = recipes.checklist()
    names = [c.name for c in checks]
    assert any(n.startswith("diffusers") for n in names)
    assert all(c.ok for c in checks), recipes.format_checklist(checks)
    bad = env.Check("thing", False, "missing", "pip install thing")
    assert str(bad).startswith("✗") and "pip install thing" in str(bad)
    assert "1 项需要修复" in recipes.format_checklist([bad])


def test_checklist_flags_a_too_old_package(monkeypatch):
    monkeypatch.setattr(env, "version_of", lambda name: "0.0.1")
    checks = {c.name.split()[0]: c for c in recipes.checklist()}
    assert not checks["diffusers"].ok
    assert "pip install -U 'diffusers>=" in checks["diffusers"].fix


def test_check_endpoint_offline_makes_no_request(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("network used in offline mode")

    monkeypatch.setattr(hub.urllib.request, "urlopen", boom)
    ok, message = hub.check_endpoint()
    assert not ok and "offline" in message


def test_check_endpoint_reports_unreachable_mirror(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    def refuse(url, timeout):
        assert url == "https://mirror.example/api/models/openai/clip-vit-base-patch32"
        assert timeout <= 5
        raise urllib.error.URLError("connection refused")

    monkeypatch.setattr(hub.urllib.request, "urlopen", refuse)
    ok, message = hub.check_endpoint("https://mirror.example/")
    assert not ok and "unreachable" in message and "HF_ENDPOINT" in message


def test_hf_endpoint_is_read_at_import():
    code = "import recipes.hub.settings as e; print(e.hf_settings()['HF_ENDPOINT'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"HF_ENDPOINT": "https://mirror.example", "HF_HUB_OFFLINE": "1",
                              "PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    assert out.stdout.strip() == "https://mirror.example"


def test_cli_env_exit_code():
    out = subprocess.run([sys.executable, "-m", "recipes", "env"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[versions]" in out.stdout and "all good" in out.stdout
