"""Narrow filters for warnings that are known to be harmless in this course.

Each filter matches one specific message and says why it is safe; nothing is
silenced wholesale, so a real problem still reaches the learner.
"""

from __future__ import annotations

import logging
import sys


class _DropMessage(logging.Filter):
    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.fragment = fragment

    def filter(self, record: logging.LogRecord) -> bool:
        return self.fragment not in record.getMessage()


def install() -> None:
    """Install the filters (idempotent)."""
    # transformers 5 warns on `import diffusers` that CLIPImageProcessor falls back
    # to its PIL backend without torchvision. The pipelines here never use the
    # image processor (no safety checker), and torchvision's PyPI wheel does not
    # match the CPU torch build, so the fallback is the right behaviour.
    logger = logging.getLogger("transformers.utils.import_utils")
    if not any(isinstance(f, _DropMessage) for f in logger.filters):
        logger.addFilter(_DropMessage("requires torchvision (not installed)"))
    # diffusers 0.42 warns on every `model.to(dtype)` (from_pipe does one) that some
    # modules "should be kept in float32" even when the list it prints is empty.
    # Only the empty-list case is dropped; a real list still shows.
    logger = logging.getLogger("diffusers.models.modeling_utils")
    if not any(isinstance(f, _DropMessage) for f in logger.filters):
        logger.addFilter(_DropMessage("should be kept in float32: []."))
    # StableDiffusionPipeline's signature names CLIPTextModel, so loading toy-zh (or Taiyi),
    # whose text encoder is a BertModel, warns; the pipeline only needs token states
    # (output [0]), which BertModel returns. Only the BertModel case is dropped.
    logger = logging.getLogger("diffusers.pipelines.pipeline_utils")
    if not any(isinstance(f, _DropMessage) for f in logger.filters):
        logger.addFilter(_DropMessage("models.bert.modeling_bert.BertModel'>."))
    # The toy's scheduler config carries PNDM's `skip_prk_steps` (so PNDM can be swapped in);
    # LCMScheduler.from_config(pipe.scheduler.config), the documented call, warns that it
    # ignores it. Only that exact one-key message is dropped.
    logger = logging.getLogger("diffusers.configuration_utils")
    if not any(isinstance(f, _DropMessage) for f in logger.filters):
        logger.addFilter(_DropMessage("{'skip_prk_steps': True} were passed to LCMScheduler"))
    loading_bars(False)


def compile_output() -> None:
    """Quiet harmless outputs of ``fast_preset``'s CPU compile (idempotent).

    * Dynamo warns that diffusers' upsampling calls ``is_torch_version`` (an
      ``lru_cache`` function) inside the graph; it is traced as a constant
      (``torch < 2.1`` is False), which is what the code means.
    * inductor's autotuner reads ``storage().size()`` (a deprecated call inside
      torch itself, nothing the course can change).
    * with max-autotune (``tools/cpu_compile.py`` tries it) inductor writes a
      timing table per matmul shape to stderr; the choice is the same without it.
    """
    import warnings

    import torch._inductor.select_algorithm as select_algorithm

    warnings.filterwarnings("ignore", message=r"Dynamo detected a call to a `functools\.lru_cache`"
                            r"-wrapped function at 'upsampling\.py")
    warnings.filterwarnings("ignore", message="TypedStorage is deprecated",
                            module="torch._inductor.select_algorithm")
    select_algorithm.PRINT_AUTOTUNE = False


def loading_bars(enabled: bool = False) -> None:
    """Turn the "Loading weights" / "Loading pipeline components" bars on or off.

    Loading the toy model from disk takes well under a second, and the bars
    only push the interesting output off screen. Download bars (huggingface_hub)
    are not affected. Acts only on libraries already imported, so notebooks
    import diffusers before recipes.
    """
    for name in ("transformers", "diffusers"):
        if name in sys.modules:
            module = __import__(f"{name}.utils.logging", fromlist=["logging"])
            (module.enable_progress_bar if enabled else module.disable_progress_bar)()
