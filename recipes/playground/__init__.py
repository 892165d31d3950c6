"""The playground (chapter 12): ``Playground`` (ipywidgets app) and the Voilà page ``app.ipynb``."""

from recipes.playground.app import Playground, outline_from_prompt, png_bytes
from recipes.playground.assets import find_controlnets, find_loras

__all__ = ["Playground", "find_controlnets", "find_loras", "outline_from_prompt", "png_bytes"]
