"""DeepCache for a diffusers UNet: reuse the deep features between denoising steps.

Between two neighbouring steps the UNet's deep features (everything below its
highest resolution) change little (Ma et al., "DeepCache: Accelerating
Diffusion Models for Free", 2023). ``DeepCacheUNet`` runs the whole UNet on
every ``interval``-th step and keeps the feature map that enters the last up
block; on the steps between it runs only the outermost level - ``conv_in``,
the first down block, the last up block and ``conv_out`` - and takes the
deep part from that cache. It changes the output (unlike a compiler), so it is
judged like the guidance cutoff: ``recipes.perf.benchmarks.bench_toy`` and
``tools/deepcache.py`` measure accuracy next to speed.

diffusers 0.42 has caching of its own (``model.enable_cache(FirstBlockCacheConfig(...))``,
pyramid attention broadcast, FasterCache, ...), but for its transformer models
only: ``UNet2DConditionModel`` has no ``enable_cache`` (checked in
``tests/test_deepcache.py``), hence this small wrapper for SD-style UNets.

Use: ``pipe.unet = DeepCacheUNet(pipe.unet, interval=2)`` (or
``fast_preset(pipe, deep_cache=2)``). It stands in for the UNet with the same
call, ``config``, ``dtype`` and ``device``. A new pipeline call is noticed when
the timestep stops falling (timesteps fall within one call), and that step is
always a full one. The cache is state: one pipeline call at a time per
``DeepCacheUNet`` (as for the scheduler a pipeline holds). Plain text-to-image
UNets only: ControlNet residuals, T2I adapters, class or added-condition
embeddings raise a ``ValueError``.
"""

from __future__ import annotations

import torch


def _block_kwargs(block, encoder_hidden_states) -> dict:
    if getattr(block, "has_cross_attention", False):
        return {"encoder_hidden_states": encoder_hidden_states}
    return {}


def check_supported(unet) -> None:
    """Raise ``ValueError`` unless ``unet`` is a plain SD-style ``UNet2DConditionModel``."""
    cfg = unet.config
    unsupported = [k for k in ("class_embed_type", "addition_embed_type", "time_cond_proj_dim",
                               "encoder_hid_dim_type") if cfg.get(k) is not None]
    if unsupported:
        raise ValueError(f"DeepCacheUNet supports plain text-to-image UNets; this one sets "
                         f"{', '.join(unsupported)}. Use the UNet without DeepCache.")


class DeepCacheUNet(torch.nn.Module):
    """A UNet that computes its deep levels only every ``interval`` steps (see the module doc)."""

    def __init__(self, unet, interval: int = 2) -> None:
        super().__init__()
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f"interval must be a whole number >= 1, got {interval!r}")
        check_supported(unet)
        self.unet = unet
        self.interval = interval
        self.config = unet.config
        self.cache: torch.Tensor | None = None
        self.step = 0
        self._last_t: float | None = None
        self.full_calls = 0
        self.shallow_calls = 0

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    @property
    def device(self) -> torch.device:
        return self.unet.device

    # -- the two halves -------------------------------------------------------------------
    def _embed(self, sample, timestep):
        unet = self.unet
        emb = unet.time_embedding(unet.get_time_embed(sample=sample, timestep=timestep), None)
        if unet.time_embed_act is not None:
            emb = unet.time_embed_act(emb)
        return emb

    def _head(self, sample):
        unet = self.unet
        if unet.conv_norm_out is not None:
            sample = unet.conv_act(unet.conv_norm_out(sample))
        return unet.conv_out(sample)

    def full(self, sample, timestep, encoder_hidden_states):
        """The whole UNet; returns ``(noise prediction, input of the last up block)``."""
        unet = self.unet
        emb = self._embed(sample, timestep)
        h = unet.conv_in(sample)
        res: tuple[torch.Tensor, ...] = (h,)
        for block in unet.down_blocks:
            h, more = block(hidden_states=h, temb=emb,
                            **_block_kwargs(block, encoder_hidden_states))
            res += more
        if unet.mid_block is not None:
            h = unet.mid_block(h, emb, **_block_kwargs(unet.mid_block, encoder_hidden_states))
        for block in unet.up_blocks:
            n = len(block.resnets)
            skips, res = res[-n:], res[:-n]
            deep = h  # after the loop: the input of the last up block
            h = block(hidden_states=h, temb=emb, res_hidden_states_tuple=skips,
                      **_block_kwargs(block, encoder_hidden_states))
        return self._head(h), deep

    def shallow(self, sample, timestep, encoder_hidden_states, deep):
        """Only the outermost level, with the deep features ``deep`` from a full step."""
        unet = self.unet
        emb = self._embed(sample, timestep)
        h = unet.conv_in(sample)
        first = unet.down_blocks[0]
        _, more = first(hidden_states=h, temb=emb, **_block_kwargs(first, encoder_hidden_states))
        last = unet.up_blocks[-1]
        skips = ((h,) + more)[:len(last.resnets)]
        out = last(hidden_states=deep, temb=emb, res_hidden_states_tuple=skips,
                   **_block_kwargs(last, encoder_hidden_states))
        return self._head(out)

    # -- the UNet call ----------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the cache: the next call runs the whole UNet."""
        self.cache, self.step, self._last_t = None, 0, None

    def forward(self, sample, timestep, encoder_hidden_states, *args, return_dict: bool = True,
                **kwargs):
        extra = [k for k, v in kwargs.items() if v is not None and v != {}]
        if args or extra:
            raise ValueError("DeepCacheUNet takes (sample, timestep, encoder_hidden_states) only; "
                             f"got {', '.join(extra) or 'extra arguments'}. Use the plain UNet.")
        t = float(timestep.flatten()[0]) if torch.is_tensor(timestep) else float(timestep)
        if self._last_t is None or t >= self._last_t:  # timesteps fall within a call
            self.step = 0
        self._last_t = t
        deep = self.cache
        if deep is not None and deep.shape[0] == 2 * sample.shape[0]:
            deep = deep.chunk(2)[1]  # guidance stopped (fast.CFGCutoff): keep the prompts' half
        if self.step % self.interval == 0 or deep is None or deep.shape[0] != sample.shape[0]:
            out, self.cache = self.full(sample, timestep, encoder_hidden_states)
            self.step = 1
            self.full_calls += 1
        else:
            out = self.shallow(sample, timestep, encoder_hidden_states, deep)
            self.step += 1
            self.shallow_calls += 1
        if not return_dict:
            return (out,)
        from diffusers.models.unets.unet_2d_condition import UNet2DConditionOutput

        return UNet2DConditionOutput(sample=out)
