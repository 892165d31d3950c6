import pytest

from recipes.course import profiles as profile_mod
from recipes.course.profiles import PROFILES, profile


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("RECIPES_PROFILE", raising=False)


def test_quick_by_default_without_gpu(monkeypatch, no_env):
    monkeypatch.setattr(profile_mod, "_gpu_present", lambda: False)
    assert profile().name == "quick"


def test_full_by_default_with_gpu(monkeypatch, no_env):
    monkeypatch.setattr(profile_mod, "_gpu_present", lambda: True)
    assert profile().name == "full"


def test_environment_variable_overrides_device(monkeypatch):
    monkeypatch.setattr(profile_mod, "_gpu_present", lambda: True)
    monkeypatch.setenv("RECIPES_PROFILE", "Quick ")
    assert profile().name == "quick"


def test_argument_beats_environment(monkeypatch):
    monkeypatch.setenv("RECIPES_PROFILE", "quick")
    assert profile("full") == PROFILES["full"]


def test_unknown_value_lists_choices(monkeypatch):
    monkeypatch.setenv("RECIPES_PROFILE", "fast")
    with pytest.raises(ValueError) as err:
        profile()
    message = str(err.value)
    assert "'fast'" in message and "RECIPES_PROFILE" in message
    assert "quick" in message and "full" in message


def test_full_is_bigger_than_quick():
    quick, full = PROFILES["quick"], PROFILES["full"]
    for field, value in quick.as_dict().items():
        if field != "name":
            assert full.as_dict()[field] >= value, field


def test_overrides(no_env):
    p = profile("quick", steps=7)
    assert p.steps == 7 and p.name == "quick"
    with pytest.raises(TypeError, match="nonsense"):
        profile("quick", nonsense=1)
