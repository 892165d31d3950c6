"""The checks a request passes before it may wait for the model: an ASGI middleware.

Order matters and is cheapest-first: token (401), body size (413), JSON and the
shared validator ``recipes.pipelines.request`` plus the content filter (400/422),
then admission to a bounded queue (503 + ``Retry-After``). Only admitted requests
reach the batching framework, so a bad or unauthorised request never takes a
batch slot, and a flood cannot grow memory without bound. The token is compared
with ``hmac.compare_digest`` (constant time) and never logged or echoed.
"""

from __future__ import annotations

import hmac
import json
import math
import time
from collections import Counter
from collections.abc import Callable

from recipes.pipelines.request import GenerationRequest, RequestError, validate

# JSON fields a client may send; anything else is a 422 (a typo like "step" would
# otherwise be silently ignored and the default used).
FIELDS = ("prompt", "negative_prompt", "steps", "guidance", "seed", "width", "height")
OPEN_PATHS = ("/healthz",)  # what an orchestrator's probe calls without a token


def request_from_json(body: bytes) -> GenerationRequest:
    """Parse a JSON body into a ``GenerationRequest`` (not yet validated).

    Raises ``RequestError`` for a body that is not a JSON object or names unknown
    fields, with the same English/Chinese messages as every other problem.
    """
    from recipes.pipelines.request import Problem

    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError([Problem(
            "body", f"body is not UTF-8 JSON ({exc.__class__.__name__}): "
            'send e.g. {"prompt": "a red circle"}',
            '请求体不是 UTF-8 JSON：请发送例如 {"prompt": "红色圆形"}')]) from None
    if not isinstance(data, dict):
        raise RequestError([Problem("body", "body must be a JSON object with a 'prompt'",
                                    "请求体须为含 prompt 的 JSON 对象")])
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise RequestError([Problem(k, f"unknown field {k!r}: allowed are {', '.join(FIELDS)}",
                                    f"未知字段 {k!r}：允许的字段为 {', '.join(FIELDS)}")
                            for k in unknown])
    return GenerationRequest(**{k: data[k] for k in FIELDS if k in data})


class Guard:
    """ASGI middleware: auth, body limit, validation and a bounded queue for ``path``.

    ``token`` is the bearer token; ``max_body`` bytes; ``max_queue`` admitted
    requests at most (waiting + running); ``validate_kw`` goes to ``validate``
    (``tokenizer``, ``content_filter``). ``in_flight`` is the queue depth
    (admitted, not yet answered), ``admitted`` the requests admitted since the
    start, and ``answered`` counts, by status, the answers on ``path`` to requests
    with the right token; ``GET stats_path`` (token required) returns the three as
    JSON, e.g. to wait until requests are really admitted before a SIGTERM, or for
    a monitoring scrape.
    On SIGTERM uvicorn stops accepting connections and lets admitted requests finish.
    """

    def __init__(self, app, *, token: str, path: str = "/v1/images",
                 stats_path: str = "/v1/stats", max_body: int = 16_384,
                 max_queue: int = 32, validate_kw: dict | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app, self.path, self.stats_path = app, path, stats_path
        self._token = token.encode()
        self.max_body, self.max_queue = max_body, max_queue
        self.validate_kw = validate_kw or {}
        self.clock = clock
        self.in_flight = self.admitted = 0
        self.answered: Counter = Counter()
        self._service_s = 1.0  # running mean of admitted request latency, for Retry-After

    def retry_after(self) -> int:
        """Seconds a rejected client should wait: the recent latency of an admitted request."""
        return max(1, math.ceil(self._service_s))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if not self._authorized(headers.get(b"authorization", b"")):
            await _json(send, 401, {"error": "missing or wrong token: send "
                                    "'Authorization: Bearer <token>'",
                                    "zh": "缺少或错误的令牌：请发送 Authorization: Bearer <令牌>"},
                        [(b"www-authenticate", b"Bearer")])
            return
        if scope["path"] == self.stats_path:
            await _json(send, 200, {"in_flight": self.in_flight, "admitted": self.admitted,
                                    "max_queue": self.max_queue,
                                    "answered": {str(k): v for k, v in
                                                 sorted(self.answered.items())}})
            return
        if scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        send = self._counting(send)
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            declared = 0
        body = b"" if declared > self.max_body else await _read(receive, self.max_body)
        if declared > self.max_body or body is None:
            await _json(send, 413, {"error": f"body larger than {self.max_body} bytes: send only "
                                    "the JSON fields, no images",
                                    "zh": f"请求体超过 {self.max_body} 字节：只发送 JSON 字段"})
            return
        try:
            validate(request_from_json(body), **self.validate_kw)
        except RequestError as exc:
            # 422 for malformed fields; 400 when the only objection is the content filter.
            blocked = all(p.en.startswith("blocked by the content filter") for p in exc.problems)
            await _json(send, 400 if blocked else 422, {
                "error": str(exc), "zh": exc.zh,
                "problems": [{"field": p.field, "en": p.en, "zh": p.zh} for p in exc.problems]})
            return
        if self.in_flight >= self.max_queue:
            await _json(send, 503, {"error": f"queue full ({self.in_flight} requests waiting or "
                                    "running): retry after the Retry-After seconds",
                                    "zh": "服务繁忙：请按 Retry-After 秒数后重试"},
                        [(b"retry-after", str(self.retry_after()).encode())])
            return
        self.in_flight += 1
        self.admitted += 1
        start = self.clock()
        try:
            await self.app(scope, _replay(body, receive), send)
        finally:
            self.in_flight -= 1
            self._service_s = 0.8 * self._service_s + 0.2 * (self.clock() - start)

    def _counting(self, send):
        """``send`` that also counts the response's status in ``answered``."""
        async def counted(message):
            if message["type"] == "http.response.start":
                self.answered[message["status"]] += 1
            await send(message)

        return counted

    def _authorized(self, header: bytes) -> bool:
        scheme, _, given = header.partition(b" ")
        # compare_digest runs in time independent of where the strings differ
        return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self._token)


async def _read(receive, limit: int) -> bytes | None:
    """The whole request body, or ``None`` as soon as it exceeds ``limit`` bytes."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive):
    """A ``receive`` that hands the already-read body over once, then the real channel."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _json(send, status: int, payload: dict, extra: list | None = None) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json; charset=utf-8"),
               (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
