"""OpenTelemetry spans and metrics when ``opentelemetry-api`` is installed; no-ops otherwise.

Spans: one per client call (``liftbridge <op>``, attributes ``rpc.method`` and
``liftbridge.stream``). Metrics: ``liftbridge.publish.duration`` (seconds, to the
ack), ``liftbridge.acks``, ``liftbridge.messages.delivered``,
``liftbridge.resubscribes``. They go to whatever providers the application set.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from contextlib import nullcontext
from functools import cache
from typing import Any

_ATTR_STREAM = "liftbridge.stream"


@cache
def _instruments() -> dict[str, Any] | None:
    try:
        from opentelemetry import metrics, trace
    except ImportError:
        return None
    meter = metrics.get_meter("liftbridge_nb")
    return {
        "trace": trace,
        "untraced": (trace.ProxyTracerProvider, trace.NoOpTracerProvider),
        "tracer": trace.get_tracer("liftbridge_nb"),
        "publish_duration": meter.create_histogram(
            "liftbridge.publish.duration", unit="s", description="time from publish to its ack"
        ),
        "acks": meter.create_counter("liftbridge.acks", description="acks received"),
        "delivered": meter.create_counter("liftbridge.messages.delivered", description="messages read"),
        "resubscribes": meter.create_counter(
            "liftbridge.resubscribes", description="subscriptions re-opened"
        ),
    }


def span(op: str, rpc: str, stream: str | None = None) -> Any:
    """A span around one client call.

    A null context without OpenTelemetry, and while the application has set no
    tracer provider: OpenTelemetry's stand-in tracer would still enter and leave
    a context per call (about a sixth of one publish's Python time), for nothing.
    """
    inst = _instruments()
    if inst is None or isinstance(inst["trace"].get_tracer_provider(), inst["untraced"]):
        return nullcontext()
    attributes = {"rpc.system": "grpc", "rpc.method": rpc}
    if stream:
        attributes[_ATTR_STREAM] = stream
    return inst["tracer"].start_as_current_span(f"liftbridge {op}", attributes=attributes)


def enabled() -> bool:
    """Whether OpenTelemetry is installed (metrics and spans are recorded)."""
    return _instruments() is not None


def acked(stream: str, started: float) -> None:
    """Record a publish acked now that began at ``started`` (``time.perf_counter()``)."""
    inst = _instruments()
    if inst is not None:
        inst["publish_duration"].record(time.perf_counter() - started, {_ATTR_STREAM: stream})
        inst["acks"].add(1, {_ATTR_STREAM: stream})


def acked_many(stream: str, started: float, count: int) -> None:
    """Record ``count`` acks of a batch that came together now (each its duration: the same)."""
    inst = _instruments()
    if inst is not None:
        attributes = {_ATTR_STREAM: stream}
        duration, record = time.perf_counter() - started, inst["publish_duration"].record
        for _ in range(count):
            record(duration, attributes)
        inst["acks"].add(count, attributes)


def track_ack(future: Future[Any], stream: str) -> None:
    """Record a pipelined publish's latency and ack when its future succeeds."""
    if _instruments() is None:
        return
    started = time.perf_counter()

    def done(f: Future[Any]) -> None:
        if not f.cancelled() and f.exception() is None and f.result() is not None:
            acked(stream, started)

    future.add_done_callback(done)


def delivered(stream: str, count: int) -> None:
    """Count messages a subscription delivered."""
    inst = _instruments()
    if inst is not None and count:
        inst["delivered"].add(count, {_ATTR_STREAM: stream})


def resubscribed(stream: str) -> None:
    """Count a subscription re-opened after losing its leader or connection."""
    inst = _instruments()
    if inst is not None:
        inst["resubscribes"].add(1, {_ATTR_STREAM: stream})
