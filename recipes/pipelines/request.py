"""One request validator for every entry point: CLI, server, playground, batch generation.

``validate(GenerationRequest(...))`` returns the request normalised (prompt
stripped, scheduler canonical) or raises ``RequestError`` listing every problem,
each with an English and a Chinese message. Callers turn it into what their user
sees: the CLI prints ``error: …`` and exits 2, the server answers 4xx JSON, the
playground shows one red line.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# Bounds. Steps: 1000 is the training schedule length of SD-style models, more steps
# than that only repeat timesteps. Size: the toy model is trained at 64 px and SD-1.5
# at 512; 2048 px is 16x SD-1.5's latent area and already beyond a 24 GB GPU at batch 1.
# Guidance: 0 means unconditional, 1 disables CFG (one UNet pass), values above ~30
# saturate every model the course uses; 50 is a generous ceiling that still catches typos.
MAX_STEPS = 1000
MIN_SIDE, MAX_SIDE = 8, 2048
MAX_GUIDANCE = 50.0
MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed accepts a signed 64-bit integer


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: which field, and what to do (English and Chinese)."""

    field: str
    en: str
    zh: str

    def __str__(self) -> str:
        return f"{self.en} / {self.zh}"


class RequestError(ValueError):
    """A request with one or more problems; ``str()`` is one line naming all of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.en for p in problems))

    @property
    def zh(self) -> str:
        return "；".join(p.zh for p in self.problems)


@dataclass(frozen=True)
class GenerationRequest:
    """What a user asks for; the same fields in the CLI, the server JSON and the playground."""

    prompt: str
    negative_prompt: str | None = None
    steps: int = 25
    guidance: float = 7.5
    seed: int = 0
    height: int = 64
    width: int = 64
    scheduler: str | None = None
    model: str = "toy"
    loras: dict[str, float] = field(default_factory=dict)


def token_count(tokenizer, text: str) -> int:
    """Tokens ``text`` costs, with BOS/EOS; no "sequence longer than maximum" warning."""
    return len(tokenizer(text, verbose=False).input_ids)


def model_tokenizer(model: str):
    """The tokenizer of a local model folder or short name (``None`` for a Hub id: the
    budget is then checked after loading). Cheap: no weights are read."""
    from pathlib import Path

    from recipes.pipelines.models import resolve

    folder = Path(resolve(model)) / "tokenizer"
    if not folder.is_dir():
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def problems(req: GenerationRequest, *, tokenizer=None, content_filter=None) -> list[Problem]:
    """Every problem with ``req`` (empty list: fine). See ``validate``."""
    out: list[Problem] = []
    if not isinstance(req.prompt, str) or not req.prompt.strip():
        out.append(Problem("prompt", "empty prompt: describe the image, e.g. "
                           "'a large red circle on the left'",
                           "提示词为空：请描述画面，例如“左边一个大的红色圆形”"))
    elif tokenizer is not None:
        n = token_count(tokenizer, req.prompt.strip())
        limit = tokenizer.model_max_length
        if n > limit:
            out.append(Problem("prompt", f"prompt is {n} tokens but the text encoder reads at "
                               f"most {limit}: shorten it (the rest would be silently dropped)",
                               f"提示词有 {n} 个 token，文本编码器最多读 {limit} 个：请缩短"
                               "（多出的部分会被悄悄丢掉）"))
    if req.negative_prompt is not None and not isinstance(req.negative_prompt, str):
        out.append(Problem("negative_prompt", "negative prompt must be text",
                           "负面提示词必须是文本"))
    elif req.negative_prompt and tokenizer is not None:
        n = token_count(tokenizer, req.negative_prompt.strip())
        if n > tokenizer.model_max_length:
            out.append(Problem("negative_prompt", f"negative prompt is {n} tokens, at most "
                               f"{tokenizer.model_max_length} are read: shorten it",
                               f"负面提示词有 {n} 个 token，最多读 "
                               f"{tokenizer.model_max_length} 个：请缩短"))
    if not _is_int(req.steps) or not 1 <= req.steps <= MAX_STEPS:
        out.append(Problem("steps", f"steps must be an integer from 1 to {MAX_STEPS}, "
                           f"got {req.steps!r}",
                           f"步数须为 1 到 {MAX_STEPS} 的整数，收到 {req.steps!r}"))
    if (not isinstance(req.guidance, (int, float)) or isinstance(req.guidance, bool)
            or not 0 <= req.guidance <= MAX_GUIDANCE or req.guidance != req.guidance):
        out.append(Problem("guidance", f"guidance must be from 0 to {MAX_GUIDANCE:g} (1 or less "
                           f"turns classifier-free guidance off), got {req.guidance!r}",
                           f"引导系数须在 0 到 {MAX_GUIDANCE:g} 之间（≤1 即关闭无分类器引导），"
                           f"收到 {req.guidance!r}"))
    for side in ("height", "width"):
        v = getattr(req, side)
        if not _is_int(v) or not MIN_SIDE <= v <= MAX_SIDE or v % 8:
            out.append(Problem(side, f"{side} must be a multiple of 8 from {MIN_SIDE} to "
                               f"{MAX_SIDE} (the toy model is trained at 64), got {v!r}",
                               f"{'高' if side == 'height' else '宽'}须为 8 的倍数，范围 "
                               f"{MIN_SIDE}–{MAX_SIDE}（玩具模型训练尺寸为 64），收到 {v!r}"))
    if not _is_int(req.seed) or not 0 <= req.seed <= MAX_SEED:
        out.append(Problem("seed", f"seed must be an integer from 0 to 2^63-1, got {req.seed!r}",
                           f"种子须为 0 到 2^63-1 的整数，收到 {req.seed!r}"))
    if req.scheduler is not None:
        from recipes.pipelines.schedulers import canonical

        try:
            canonical(req.scheduler)
        except ValueError as exc:
            out.append(Problem("scheduler", str(exc), f"未知的调度器 {req.scheduler!r}"))
    if content_filter is not None and isinstance(req.prompt, str) and req.prompt.strip():
        result = content_filter.check(req.prompt)
        if not result.ok:
            out.append(Problem("prompt", f"blocked by the content filter: {result.reason}",
                               f"提示词被内容过滤拦截：{result.reason}"))
    return out


def validate(req: GenerationRequest, *, tokenizer=None, content_filter=None) -> GenerationRequest:
    """Return ``req`` normalised, or raise ``RequestError`` naming every problem.

    ``tokenizer`` (the model's) enables the token-budget check; ``content_filter``
    (a ``recipes.chinese.ContentFilter``) blocks prompts where the caller asks for it.
    """
    found = problems(req, tokenizer=tokenizer, content_filter=content_filter)
    if found:
        raise RequestError(found)
    scheduler = req.scheduler
    if scheduler is not None:
        from recipes.pipelines.schedulers import canonical

        scheduler = canonical(scheduler)
    neg = req.negative_prompt.strip() or None if req.negative_prompt else None
    return replace(req, prompt=req.prompt.strip(), negative_prompt=neg, scheduler=scheduler)
