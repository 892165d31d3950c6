"""Shared test setup: headless plotting and no network, whatever the caller set."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def toy_pipe():
    """The shipped toy pipeline on CPU, loaded once per test session."""
    from recipes.pipelines.models import load_pipeline

    return load_pipeline("toy", device="cpu")


def _load_tool(name: str):
    """Import ``tools/<name>.py`` (the tools are scripts, not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"tool_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def load_tool():
    """``load_tool("deepcache")``: a script under tools/ as a module, for its smoke test."""
    return _load_tool
