"""The course playground (chapter 12): an ipywidgets app for Chinese and English prompts.

``Playground`` keeps every widget as an attribute (``prompt``, ``steps``, ``button``,
``image``, ``judge_line``, ``error`` ...) so a notebook, a Voilà page and a test
drive the same object: set values, call ``button.click()``, read the outputs. Input
goes through ``recipes.pipelines.request.validate`` (the one validator the CLI and
the server use) plus the content filter; a problem becomes one red line, never a
traceback. LoRA and ControlNet controls appear only when their assets are shipped.
"""

from __future__ import annotations

import html
import io
import secrets
import time
from pathlib import Path

import ipywidgets as W
from PIL import Image, ImageFilter

from recipes.chinese.safety import ContentFilter
from recipes.pipelines.request import GenerationRequest, RequestError, validate
from recipes.pipelines.schedulers import SCHEDULERS
from recipes.playground.assets import find_controlnets, find_loras, recommended_guidance
from recipes.toy import world as tw
from recipes.toy.judge import JUDGED, judge
from recipes.toy.model import ASSETS
from recipes.toy.parse import parse_prompt

MODELS = {"toy-zh": "toy-zh（中英双语 / Chinese + English）", "toy": "toy（仅英文 / English only）"}
ATTR_ZH = {"shape": "形状", "color": "颜色", "position": "位置", "size": "大小",
           "background": "背景", "style": "风格"}
DEFAULT_PROMPT = "左边一个大的红色圆形，白色背景"
RED = "#c62828"


def png_bytes(image: Image.Image, px: int | None = None) -> bytes:
    """PNG bytes of ``image``, scaled to ``px`` wide with nearest-neighbour (crisp toy pixels)."""
    if px and image.width != px:
        image = image.resize((px, round(image.height * px / image.width)), Image.NEAREST)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def outline_from_prompt(prompt: str, size: int = 64) -> Image.Image:
    """A drawn outline for ControlNet: the toy scene the prompt describes, as white edges on black.

    Attributes the prompt does not name take the first value of the toy world's vocabulary.
    """
    want = parse_prompt(prompt)
    scene = tw.Scene(**{a: want.get(a, tw.VALUES[a][0]) for a in
                        ("shape", "color", "position", "size", "background")})
    edges = tw.render(scene, size=size).convert("L").filter(ImageFilter.FIND_EDGES)
    return edges.point(lambda v: 255 if v > 40 else 0).convert("RGB")


class Playground:
    """Widgets + generate loop; ``app.widget`` is the layout, ``app.last`` the last result.

    ``pipes`` maps model names to already-loaded pipelines (tests and notebooks pass
    theirs); other models load on first use with ``recipes.pipelines.models.load_pipeline``.
    ``assets`` is where LoRA adapters and ControlNets are looked for.
    """

    def __init__(self, model: str = "toy-zh", *, pipes: dict | None = None,
                 device: str | None = None, history: int = 6, display_px: int = 256,
                 content_filter: ContentFilter | None = None, assets: Path | str = ASSETS) -> None:
        self.device, self.history_len, self.display_px = device, history, display_px
        self.content_filter = content_filter or ContentFilter()
        self._pipes = dict(pipes or {})
        self._default_schedulers: dict[str, object] = {}
        self._control_pipes: dict[tuple[str, str], object] = {}
        self._loaded_loras: dict[str, set[str]] = {}
        self.last: dict | None = None
        self.history_items: list[tuple[Image.Image, str]] = []

        self.prompt = W.Textarea(value=DEFAULT_PROMPT, description="提示词",
                                 placeholder="中文或英文，例如：左边一个大的红色圆形",
                                 layout=W.Layout(width="420px", height="60px"))
        self.negative = W.Text(value="", description="负面提示", placeholder="可留空 / optional",
                               layout=W.Layout(width="420px"))
        self.model = W.Dropdown(options=[(v, k) for k, v in MODELS.items()], value=model,
                                description="模型")
        self.scheduler = W.Dropdown(options=[("模型默认 / default", "")]
                                    + [(k, k) for k in SCHEDULERS], value="", description="调度器")
        self.steps = W.IntSlider(value=25, min=1, max=100, description="步数")
        self.guidance = W.FloatSlider(value=7.5, min=0.0, max=20.0, step=0.5,
                                      description="引导系数")
        self.seed = W.IntText(value=0, description="种子", layout=W.Layout(width="200px"))
        self.random_seed = W.Checkbox(value=False, description="随机 / random", indent=False)
        self.size = W.Dropdown(options=[("64 × 64（训练尺寸）", 64), ("96 × 96", 96),
                                        ("128 × 128", 128), ("32 × 32", 32)], value=64,
                               description="尺寸")
        self.loras = {a.name: W.FloatSlider(value=0.0, min=0.0, max=1.5, step=0.05,
                                            description=a.name[:12], tooltip=str(a.path))
                      for a in find_loras(assets)}
        self._lora_assets = {a.name: a for a in find_loras(assets)}
        nets = find_controlnets(assets)
        self.controlnet = W.Dropdown(options=[("关闭 / off", "")]
                                     + [(p.name, str(p)) for p in nets],
                                     value="", description="ControlNet")
        self.control_source = W.ToggleButtons(options=[("按提示词画轮廓 / outline", "outline"),
                                                       ("上传图片 / upload", "upload")],
                                              value="outline")
        self.control_upload = W.FileUpload(accept="image/*", multiple=False)
        self.control_scale = W.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.1,
                                           description="控制强度")
        self.button = W.Button(description="生成 Generate", button_style="primary",
                               icon="paint-brush")
        self.progress = W.IntProgress(value=0, min=0, max=25, description="进度")
        self.image = W.Image(format="png", width=display_px, height=display_px)
        self.info = W.HTML()
        self.judge_line = W.HTML()
        self.error = W.HTML()
        self.history = W.HBox()
        for name, w in [("prompt", self.prompt), ("negative", self.negative),
                        ("button", self.button), ("image", self.image), ("judge", self.judge_line),
                        ("error", self.error), ("info", self.info), ("progress", self.progress),
                        ("history", self.history), ("seed", self.seed), ("steps", self.steps)]:
            w.add_class(f"pg-{name}")
        self.button.on_click(lambda _: self.generate())
        self.widget = self._layout(bool(self.loras), bool(nets))

    # --- layout -------------------------------------------------------------------
    def _layout(self, has_lora: bool, has_controlnet: bool) -> W.Widget:
        controls = [self.prompt, self.negative, self.model, self.scheduler, self.steps,
                    self.guidance, W.HBox([self.seed, self.random_seed]), self.size]
        if has_lora:
            hints = [(a.name, recommended_guidance(a)) for a in self._lora_assets.values()]
            hints = ", ".join(f"{html.escape(n)} {g:g}" for n, g in hints if g is not None)
            controls.append(W.HTML("<b>LoRA 适配器</b>（权重 0 = 关闭）" + (
                f"<br><small>各自推荐的 guidance / recommended guidance: {hints}"
                "（guidance.json，第 06 章）</small>" if hints else "")))
            controls.extend(self.loras.values())
        if has_controlnet:
            controls += [W.HTML("<b>ControlNet</b>"), self.controlnet, self.control_source,
                         self.control_upload, self.control_scale]
        controls += [self.button, self.progress, self.error]
        result = W.VBox([self.image, self.info, self.judge_line],
                        layout=W.Layout(margin="0 0 0 20px"))
        return W.VBox([W.HBox([W.VBox(controls), result]),
                       W.HTML("<b>历史 / History</b>"), self.history])

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # --- inputs -------------------------------------------------------------------
    def request(self) -> GenerationRequest:
        """The widgets' values as a ``GenerationRequest`` (draws a seed first if "random")."""
        if self.random_seed.value:
            self.seed.value = secrets.randbelow(2**31)
        side = int(self.size.value)
        return GenerationRequest(
            prompt=self.prompt.value, negative_prompt=self.negative.value or None,
            steps=int(self.steps.value), guidance=float(self.guidance.value),
            seed=int(self.seed.value), height=side, width=side,
            scheduler=self.scheduler.value or None, model=self.model.value,
            loras={k: float(w.value) for k, w in self.loras.items() if w.value > 0})

    def pipe(self, model: str):
        """The pipeline for ``model``, loaded once (on ``device``, quiet)."""
        if model not in self._pipes:
            from recipes.pipelines.models import load_pipeline

            self._pipes[model] = load_pipeline(model, device=self.device)
        return self._pipes[model]

    def show_error(self, en: str, zh: str) -> None:
        """Put one red line (Chinese / English) into ``self.error``."""
        self.error.value = (f'<div class="pg-error-line" style="color:{RED};font-weight:600">'
                            f"⚠ {html.escape(zh)} / {html.escape(en)}</div>")

    # --- generate -----------------------------------------------------------------
    def generate(self) -> dict | None:
        """Validate, generate, judge and show; returns ``self.last`` or None after an error line."""
        self.error.value = ""
        try:
            req = validate(self.request(), content_filter=self.content_filter)
            if req.model == "toy" and any("\u4e00" <= c <= "\u9fff" for c in req.prompt):
                self.show_error("the English toy model does not read Chinese: choose toy-zh",
                                "toy 模型只懂英文：中文提示词请选 toy-zh")
                return None
            pipe = self.pipe(req.model)
            req = validate(req, tokenizer=pipe.tokenizer)  # token budget needs the tokenizer
        except RequestError as exc:
            self.show_error(str(exc), exc.zh)
            return None
        except (ValueError, RuntimeError, OSError) as exc:  # model missing or unreadable
            self.show_error(str(exc).splitlines()[0], "模型无法加载")
            return None
        self.button.disabled = True
        self.progress.max, self.progress.value, self.progress.bar_style = req.steps, 0, ""
        try:
            image, seconds = self._run(pipe, req)
        except (RequestError, ValueError, RuntimeError) as exc:
            self.progress.bar_style = "danger"
            self.show_error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                            "生成失败")
            return None
        finally:
            self.button.disabled = False
        self.progress.bar_style = "success"
        self._show(req, image, seconds)
        return self.last

    def _on_step(self, pipe, step: int, timestep, callback_kwargs: dict) -> dict:
        self.progress.value = step + 1
        return callback_kwargs

    def _run(self, pipe, req: GenerationRequest) -> tuple[Image.Image, float]:
        from recipes.pipelines.generate import generators
        from recipes.pipelines.schedulers import make_scheduler

        base = self._default_schedulers.setdefault(req.model, pipe.scheduler)
        pipe.scheduler = make_scheduler(req.scheduler, base.config) if req.scheduler else base
        self._set_loras(pipe, req)
        kwargs = dict(prompt=req.prompt, negative_prompt=req.negative_prompt,
                      num_inference_steps=req.steps, guidance_scale=req.guidance,
                      height=req.height, width=req.width,
                      generator=generators([req.seed], pipe.device)[0],
                      callback_on_step_end=self._on_step)
        if self.controlnet.value:
            runner = self._control_pipe(req.model, pipe)
            runner.scheduler = pipe.scheduler
            kwargs.update(image=self._control_image(req),
                          controlnet_conditioning_scale=float(self.control_scale.value))
        else:
            runner = pipe
        t0 = time.perf_counter()
        image = runner(**kwargs).images[0]
        return image, time.perf_counter() - t0

    def _set_loras(self, pipe, req: GenerationRequest) -> None:
        loaded = self._loaded_loras.setdefault(req.model, set())
        for name in req.loras:
            if name not in loaded:
                asset = self._lora_assets[name]
                if asset.layout == "diffusers":
                    pipe.load_lora_weights(str(asset.path), adapter_name=name)
                else:
                    pipe.unet.load_lora_adapter(str(asset.path), prefix=None, adapter_name=name)
                loaded.add(name)
        if loaded:  # weight 0 for adapters not asked for: the base model
            names = sorted(loaded)
            pipe.set_adapters(names, [req.loras.get(n, 0.0) for n in names])

    def _control_pipe(self, model: str, pipe):
        key = (model, self.controlnet.value)
        if key not in self._control_pipes:
            from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

            net = ControlNetModel.from_pretrained(self.controlnet.value, use_safetensors=True,
                                                  dtype=pipe.unet.dtype).to(pipe.device)
            self._control_pipes[key] = StableDiffusionControlNetPipeline.from_pipe(
                pipe, controlnet=net)
            self._control_pipes[key].set_progress_bar_config(disable=True)
        return self._control_pipes[key]

    def _control_image(self, req: GenerationRequest) -> Image.Image:
        if self.control_source.value == "upload":
            files = self.control_upload.value
            if not files:
                raise ValueError("upload a control image first, or choose 'outline' "
                                 "/ 请先上传控制图，或选择“按提示词画轮廓”")
            image = Image.open(io.BytesIO(bytes(files[0]["content"]))).convert("RGB")
            return image.resize((req.width, req.height))
        return outline_from_prompt(req.prompt, size=req.width)

    # --- outputs ------------------------------------------------------------------
    def checks(self, prompt: str, image: Image.Image) -> dict[str, tuple[str, str, bool]]:
        """Per attribute the prompt names: (wanted, read by the judge, match)."""
        want, got = parse_prompt(prompt), judge(image).attributes
        return {a: (want[a], got.get(a, "none"), got.get(a) == want[a])
                for a in JUDGED if a in want}

    def _show(self, req: GenerationRequest, image: Image.Image, seconds: float) -> None:
        checks = self.checks(req.prompt, image)
        self.image.value = png_bytes(image, self.display_px)
        self.info.value = (f"<span class='pg-seconds'>{seconds:.2f} s</span> · {req.model} · "
                           f"{req.steps} 步 · seed {req.seed} · {req.width}×{req.height}")
        if checks:
            parts = [f"{ATTR_ZH[a]} {w} " + ("✓" if ok else f"✗（读到 {g}）")
                     for a, (w, g, ok) in checks.items()]
            self.judge_line.value = "评判器 / judge：" + " · ".join(parts)
        else:
            self.judge_line.value = "评判器 / judge：提示词没有提到玩具世界的属性（无可核对）"
        self.last = {"request": req, "image": image, "seconds": seconds, "checks": checks,
                     "all_ok": bool(checks) and all(ok for *_, ok in checks.values())}
        mark = "✓" if self.last["all_ok"] else "✗"
        self.history_items = [(image, f"{mark} {req.prompt[:14]}")] + self.history_items
        self.history_items = self.history_items[:self.history_len]
        self.history.children = [
            W.VBox([W.Image(value=png_bytes(im, 96), format="png", width=96, height=96),
                    W.HTML(f"<small>{html.escape(label)}</small>")])
            for im, label in self.history_items]
