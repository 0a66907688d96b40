"""OpenTelemetry: spans per call and publish/delivery metrics reach the application's providers."""

from __future__ import annotations

import contextlib

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from liftbridge_nb import Lift, Message, Start, Stop, Stream

_spans = InMemorySpanExporter()
_reader = InMemoryMetricReader()
_tracing = TracerProvider()
_tracing.add_span_processor(SimpleSpanProcessor(_spans))
trace.set_tracer_provider(_tracing)
metrics.set_meter_provider(MeterProvider(metric_readers=[_reader]))


def _sums() -> dict[str, float]:
    """Every metric's total (sums for counters, counts for histograms); empty before any is recorded."""
    data = _reader.get_metrics_data()
    out: dict[str, float] = {}
    for rm in data.resource_metrics if data is not None else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    total = float(value if value is not None else getattr(point, "count", 0))
                    out[metric.name] = out.get(metric.name, 0.0) + total
    return out


def test_spans_and_metrics(server_address: str, stream_name: str) -> None:
    before = _sums()
    with Lift(server_address) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        client.publish(Message(stream=stream_name, value="a"))
        client.publish_many([Message(stream=stream_name, value="b"), Message(stream=stream_name, value="c")])
        client.publish_many([Message(stream=stream_name, value="d", ack_policy="all")])  # a native batch
        assert len(list(client.subscribe(stream_name, start=Start.earliest(), stop=Stop.latest()))) == 4
    ours = [
        s for s in _spans.get_finished_spans() if (s.attributes or {}).get("liftbridge.stream") == stream_name
    ]
    assert {"liftbridge create", "liftbridge publish"} <= {s.name for s in ours}
    after = _sums()
    assert after["liftbridge.acks"] - before.get("liftbridge.acks", 0) == 4
    assert after["liftbridge.publish.duration"] - before.get("liftbridge.publish.duration", 0) == 4
    assert after["liftbridge.messages.delivered"] - before.get("liftbridge.messages.delivered", 0) == 4


def test_no_span_is_made_while_the_application_has_no_tracer_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from liftbridge_nb import _telemetry

    monkeypatch.setattr(trace, "get_tracer_provider", trace.ProxyTracerProvider)  # as before any is set
    assert isinstance(_telemetry.span("publish", "PublishAsync", "s"), contextlib.nullcontext)
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: _tracing)
    with _telemetry.span("publish", "PublishAsync", "s") as made:
        assert made is not None and made.is_recording()
