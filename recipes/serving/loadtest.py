"""A bounded load generator for the image server: fixed request count, fixed concurrency.

Only loopback addresses are accepted. Each run sends exactly ``n`` requests with at
most ``concurrency`` in flight (an ``asyncio.Semaphore``) and a per-request timeout,
so a run is bounded in count and in time; it returns throughput and latency
percentiles of the successful requests, the status counts, and the batch sizes the
server reported.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from urllib.parse import urlparse

import httpx
import numpy as np

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def percentiles(latencies_s: list[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds (NaN when there are none)."""
    if not latencies_s:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}
    q = np.percentile(np.asarray(latencies_s) * 1000, [50, 95, 99])
    return {"p50_ms": float(q[0]), "p95_ms": float(q[1]), "p99_ms": float(q[2])}


async def run_load(url: str, headers: dict, *, n: int, concurrency: int, steps: int = 4,
                   prompts: list[str] | None = None, timeout: float = 120.0) -> dict:
    """Send ``n`` POST /v1/images requests, ``concurrency`` at a time; return the summary.

    Request i uses prompt ``prompts[i % len(prompts)]`` and seed i. The summary has
    ``qps`` (successful requests per wall second), ``p50_ms/p95_ms/p99_ms``,
    ``status`` (count per HTTP status, "error" for transport errors), ``mean_batch``.
    """
    host = urlparse(url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"load tests only target loopback (127.0.0.1), not {host!r}")
    if n < 1 or concurrency < 1:
        raise ValueError("n and concurrency must be >= 1")
    prompts = prompts or ["a large red circle on the left, white background"]
    sem = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    batches: list[int] = []
    status: Counter = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout,
                                 limits=limits) as client:
        async def one(i: int) -> None:
            async with sem:
                body = {"prompt": prompts[i % len(prompts)], "steps": steps, "seed": i}
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/images", json=body)
                except httpx.HTTPError:
                    status["error"] += 1
                    return
                status[r.status_code] += 1
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - t0)
                    batches.append(r.json()["batch_size"])

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.perf_counter() - start
    return {"n": n, "concurrency": concurrency, "wall_s": wall, "qps": len(latencies) / wall,
            **percentiles(latencies), "status": dict(status),
            "mean_batch": float(np.mean(batches)) if batches else float("nan")}
