"""The Hugging Face hub: settings in force, endpoint checks; cache and mirrors (chapter 10)."""

from recipes.hub.settings import check_endpoint, hf_settings

__all__ = ["check_endpoint", "hf_settings"]
