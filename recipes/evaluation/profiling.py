"""Name the parts of a diffusers pipeline call in ``torch.profiler`` output.

A profile of ``pipe(...)`` lists thousands of aten operators; which of them
belong to the text encoder, the UNet, the VAE decoder or the scheduler is not
visible. :func:`label_parts` opens a ``record_function`` range around each
part while the block runs (forward hooks on the modules, a wrapper around
``scheduler.step``) and removes every hook afterwards; :func:`part_table`
reads those ranges back from the finished profiler.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

PARTS = ("text_encoder", "unet", "vae_decoder", "scheduler_step")


@contextmanager
def label_parts(pipe):
    """While active, each text-encoder, UNet, VAE-decoder and scheduler-step call is a named range.

    The names are ``part:<name>`` (see ``PARTS``); the pipeline is unchanged
    when the block ends, also after an exception.
    """
    handles, open_ranges = [], {}

    def enter(name):
        def hook(module, args, kwargs=None):
            rf = torch.profiler.record_function(f"part:{name}")
            rf.__enter__()
            open_ranges.setdefault(name, []).append(rf)
        return hook

    def leave(name):
        def hook(module, args, output):
            open_ranges[name].pop().__exit__(None, None, None)
        return hook

    modules = {"text_encoder": getattr(pipe, "text_encoder", None), "unet": pipe.unet,
               "vae_decoder": getattr(pipe.vae, "decoder", None)}
    for name, module in modules.items():
        if isinstance(module, torch.nn.Module):
            handles.append(module.register_forward_pre_hook(enter(name)))
            handles.append(module.register_forward_hook(leave(name)))
    scheduler = pipe.scheduler
    original_step = scheduler.step

    def step(*args, **kwargs):
        with torch.profiler.record_function("part:scheduler_step"):
            return original_step(*args, **kwargs)

    scheduler.step = step  # instance attribute: shadows the class method, removed below
    try:
        yield pipe
    finally:
        for h in handles:
            h.remove()
        if scheduler.__dict__.get("step") is step:
            del scheduler.step


def part_table(prof, total_s: float | None = None) -> list[dict]:
    """Rows ``{part, calls, cpu_ms, share}`` for the labelled parts of a finished profiler.

    ``cpu_ms`` is the range's total CPU time (on a GPU, kernels run asynchronously:
    use the trace or ``device_time_total`` for device time). ``share`` is relative
    to ``total_s`` (the call's wall time) when given, else to the parts' sum.
    """
    rows = {}
    for ev in prof.key_averages():
        if ev.key.startswith("part:"):
            rows[ev.key[5:]] = {"part": ev.key[5:], "calls": ev.count,
                                "cpu_ms": ev.cpu_time_total / 1000}
    out = [rows[p] for p in PARTS if p in rows]
    whole = total_s * 1000 if total_s else sum(r["cpu_ms"] for r in out)
    for r in out:
        r["share"] = r["cpu_ms"] / whole if whole else 0.0
    return out
