"""The package exports what its __all__ says, every public name documented."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import liftbridge_nb
import liftbridge_nb.aio
import liftbridge_nb.server


def test_all_names_exist_and_are_documented() -> None:
    for module in (liftbridge_nb, liftbridge_nb.aio, liftbridge_nb.server):
        for name in module.__all__:
            member = getattr(module, name)
            if callable(member) and not name.startswith("_"):
                assert member.__doc__, f"{module.__name__}.{name} has no docstring"


def test_documented_names_of_python_liftbridge() -> None:
    from liftbridge_nb import ErrStreamExists, Lift, Message, Start, Stream

    assert issubclass(ErrStreamExists, liftbridge_nb.ApiError) and Lift.__doc__ and Message.__doc__
    stream = Stream("orders", name="orders")
    when = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert stream.start_at_offset(7).start == Start.at_offset(7)
    assert stream.start_at_time(when).start == Start.at_time(when)
    assert stream.start_at_latest_received().start == Start.latest()
    assert stream.start_at_earliest_received().start == Start.earliest()
    before = datetime.now(UTC) - timedelta(minutes=5)
    ago = stream.start_at_time_delta(timedelta(minutes=5)).start
    after = datetime.now(UTC) - timedelta(minutes=5)
    assert Start.at_time(before).timestamp_ns <= ago.timestamp_ns <= Start.at_time(after).timestamp_ns
    assert ago.kind == Start.at_time(when).kind
    assert stream.start == Start(), "each returns a new Stream; the original keeps its start"
