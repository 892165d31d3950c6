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
