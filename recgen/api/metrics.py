"""Prometheus metrics of one API process, in a registry of its own (one per app instance).

With several uvicorn workers each process exports its own series; Prometheus scrapes them
through the same port, so rates are per process (document PROMETHEUS_MULTIPROC_DIR for
aggregated scraping if a deployment needs it).
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Sub-millisecond buckets: the feed's target is a 5 ms p99.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_latency = Histogram(
            "recgen_http_request_duration_seconds",
            "Time from request start to the last response byte, by route template.",
            ("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.asset_lookups = Counter(
            "recgen_asset_cache_lookups_total",
            "Generated assets looked up for a feed, by result (hit / miss). "
            "Hit ratio = hit / (hit + miss).",
            ("kind", "result"),
            registry=self.registry,
        )
        self.feed_items = Counter(
            "recgen_feed_items_total",
            "Feed items served, by the content shown (generated / stock).",
            ("content",),
            registry=self.registry,
        )
        self.generation_requests = Counter(
            "recgen_generation_requests_total",
            "Generation jobs submitted, by source (api: POST /v1/generate; feed: a miss).",
            ("source",),
            registry=self.registry,
        )
        self.gate_rejections = Counter(
            "recgen_gate_rejections_total",
            "Feed items whose generated asset the fidelity/safety gate rejected, by kind.",
            ("kind",),
            registry=self.registry,
        )
        self.exposures_drained = Counter(
            "recgen_exposures_drained_total",
            "Exposure rows written to SQL by this process's drainer.",
            registry=self.registry,
        )
        self.events_received = Counter(
            "recgen_events_received_total",
            "Interaction events accepted by POST /v1/events (before de-duplication), by kind.",
            ("kind",),
            registry=self.registry,
        )

        # Children bound once: labels() takes a lock and a dict lookup on every call.
        self.lookup_child = {
            (kind, result): self.asset_lookups.labels(kind, result)
            for kind in ("text", "image")
            for result in ("hit", "miss")
        }
        self.items_child = {c: self.feed_items.labels(c) for c in ("generated", "stock")}
        self.rejection_child = {k: self.gate_rejections.labels(k) for k in ("text", "image")}
        self._latency_children: dict[tuple[str, str, int], Histogram] = {}

    def latency(self, method: str, route: str, status: int) -> Histogram:
        key = (method, route, status)
        child = self._latency_children.get(key)
        if child is None:
            child = self.request_latency.labels(method, route, str(status))
            self._latency_children[key] = child
        return child

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def serving_totals(self) -> dict[str, dict[str, float]]:
        """This process's serving counters as plain numbers (for the dashboard)."""

        def value(name: str, **labels: str) -> float:
            return self.registry.get_sample_value(name, labels) or 0.0

        lookups = "recgen_asset_cache_lookups_total"
        return {
            "asset_lookups": {
                f"{kind}_{result}": value(lookups, kind=kind, result=result)
                for kind in ("text", "image")
                for result in ("hit", "miss")
            },
            "feed_items": {
                content: value("recgen_feed_items_total", content=content)
                for content in ("generated", "stock")
            },
            "gate_rejections": {
                kind: value("recgen_gate_rejections_total", kind=kind) for kind in ("text", "image")
            },
        }


class LatencyMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware: it adds a task and a copy per request)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("route")
            # Templates, never raw paths: a label per user id would explode the series count.
            path = getattr(route, "path", "unmatched")
            self.metrics.latency(scope["method"], path, status[0]).observe(
                time.perf_counter() - started
            )
