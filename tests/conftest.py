"""Shared test setup: headless plotting and no network, whatever the caller set."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
