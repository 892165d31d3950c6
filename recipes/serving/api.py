"""The image server: a LitServe ``LitAPI`` that batches requests into one pipeline call.

LitServe (0.2.x) runs ``setup`` once in an inference worker process, then loops:
collect up to ``max_batch_size`` requests or wait ``batch_timeout`` seconds,
``decode_request`` each, ``batch`` them, ``predict`` once, ``unbatch`` and
``encode_response`` each. Everything a request must pass first (token, body size,
validation, bounded queue) is in ``recipes.serving.guard`` and runs in the HTTP
process, because LitServe fails a *whole batch* when one ``decode_request`` raises.

Response: JSON ``{"image_png_base64", "seed", "batch_size", "model"}``; ``batch_size``
says how many requests shared the pipeline call (the load test reads it).
"""

from __future__ import annotations

import base64
import io
import warnings
from itertools import groupby

import litserve as ls

from recipes.pipelines.request import GenerationRequest, validate
from recipes.serving.guard import FIELDS


class ImageAPI(ls.LitAPI):
    """Text-to-image over HTTP with dynamic batching; see the module docstring.

    ``model`` is "toy", "toy-zh", a folder or a Hub id (loaded with
    ``recipes.pipelines.models.load_pipeline``). Requests in one batch may differ
    in prompt, negative prompt and seed; requests that also differ in steps,
    guidance or size are run as separate pipeline calls inside the batch.
    """

    def __init__(self, model: str = "toy", *, max_batch_size: int = 4,
                 batch_timeout: float = 0.05, api_path: str = "/v1/images") -> None:
        with warnings.catch_warnings():
            # batch/unbatch are simply unused when batching is off (max_batch_size=1)
            warnings.filterwarnings("ignore", "The LitServer has both batch and unbatch")
            super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout,
                             api_path=api_path)
        self.model = model

    def setup(self, device: str) -> None:
        """Load the pipeline on ``device`` once per worker and warm it up."""
        from recipes.pipelines.models import load_pipeline

        self.pipe = load_pipeline(self.model, device=device)
        self.pipe.set_progress_bar_config(disable=True)
        self.pipe("warm-up", num_inference_steps=1, height=64, width=64)

    def decode_request(self, request: dict) -> GenerationRequest:
        """JSON dict (already checked by the guard) → normalised ``GenerationRequest``."""
        return validate(GenerationRequest(**{k: request[k] for k in FIELDS if k in request}))

    def batch(self, inputs: list[GenerationRequest]) -> list[GenerationRequest]:
        """Keep the requests as a list: ``predict`` groups them by shared settings."""
        return list(inputs)

    def predict(self, batch: list[GenerationRequest] | GenerationRequest) -> list[tuple] | tuple:
        """Run the pipeline once per group of equal settings; one (image, seed, n) per request.

        With ``max_batch_size=1`` LitServe calls this with one request (no ``batch``
        or ``unbatch``), and one result is returned.
        """
        from recipes.pipelines.generate import generators

        if isinstance(batch, GenerationRequest):
            return self.predict([batch])[0]
        out: list[tuple | None] = [None] * len(batch)

        def key(i: int) -> tuple:
            r = batch[i]
            return r.steps, float(r.guidance), r.height, r.width

        for (steps, guidance, height, width), group in groupby(sorted(range(len(batch)), key=key),
                                                               key=key):
            idx = list(group)
            reqs = [batch[i] for i in idx]
            gens = generators([r.seed for r in reqs], self.pipe.device)
            images = self.pipe([r.prompt for r in reqs],
                               negative_prompt=[r.negative_prompt or "" for r in reqs],
                               num_inference_steps=steps, guidance_scale=guidance,
                               height=height, width=width, generator=gens).images
            for i, image in zip(idx, images, strict=True):
                out[i] = (image, batch[i].seed, len(batch))
        return out

    def unbatch(self, output: list[tuple]) -> list[tuple]:
        """One result per request, in request order (``predict`` already keeps it)."""
        return list(output)

    def encode_response(self, output: tuple) -> dict:
        """PIL image → base64 PNG in a JSON object."""
        image, seed, n = output
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return {"image_png_base64": base64.b64encode(buf.getvalue()).decode("ascii"),
                "seed": seed, "batch_size": n, "model": self.model}


def build_server(model: str = "toy", *, token: str, max_batch_size: int = 4,
                 batch_timeout: float = 0.05, max_queue: int = 32, max_body: int = 16_384,
                 timeout: float = 120.0, accelerator: str = "auto"):
    """A ``litserve.LitServer`` for ``ImageAPI`` behind ``Guard`` (call ``.run(host, port)``).

    ``token`` is required; the content filter is ``recipes.chinese.ContentFilter()``
    and the prompt's token budget uses the model's own tokenizer. ``timeout`` is
    LitServe's request timeout (504 after that long in its queue).
    """
    from transformers import AutoTokenizer

    from recipes.chinese import ContentFilter
    from recipes.pipelines.models import resolve
    from recipes.serving.guard import Guard

    if not token:
        raise ValueError("empty token: put a secret in the token file")
    tokenizer = AutoTokenizer.from_pretrained(resolve(model), subfolder="tokenizer")
    guard = (Guard, {"token": token, "max_queue": max_queue, "max_body": max_body,
                     "validate_kw": {"tokenizer": tokenizer, "content_filter": ContentFilter()}})
    api = ImageAPI(model, max_batch_size=max_batch_size, batch_timeout=batch_timeout)
    return ls.LitServer(api, accelerator=accelerator, timeout=timeout, healthcheck_path="/healthz",
                        middlewares=[guard], disable_openapi_url=True)
