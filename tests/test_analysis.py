"""publish_dataframe and the df.lift accessor on frames read from the real server."""

from __future__ import annotations

import json
import zlib

import matplotlib
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from liftbridge_nb import Lift, Message, Stream, publish_dataframe, read_stream
from tests.kernel import Kernel

matplotlib.use("Agg")


def _orders(client: Lift, name: str) -> pd.DataFrame:
    client.create_stream(Stream(subject=name, name=name, partitions=2))
    client.publish_many(
        [
            Message(stream=name, key=f"c{i % 3}", partitioner="key", value=json.dumps({"n": i, "status": s}))
            for i, s in enumerate(["new", "paid", "new", "shipped", "paid", "new", "paid", "shipped"])
        ]
    )
    return read_stream(name, client=client, progress=False)


def test_replay_a_filtered_frame_into_another_stream(client: Lift, stream_name: str) -> None:
    df = _orders(client, stream_name)
    paid = df[df["value.status"] == "paid"]
    target = f"{stream_name}-paid"
    client.create_stream(Stream(subject=target, name=target))
    acks = publish_dataframe(paid, target, value="value", key="key", client=client)
    assert list(acks.index) == list(paid.index) and list(acks["offset"]) == [0, 1, 2]
    assert str(acks["timestamp"].dtype) == "datetime64[ns, UTC]"
    back = read_stream(target, client=client, progress=False)
    assert list(back["value.n"]) == list(paid["value.n"]) and list(back["key"]) == list(paid["key"])
    plain = pd.DataFrame({"a": [1, 2], "when": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    rows = publish_dataframe(plain, target, client=client)
    assert list(rows["offset"]) == [3, 4]
    whole = read_stream(target, 3, client=client, progress=False)
    assert list(whole["value.a"]) == [1, 2] and whole["value.when"].iloc[0].startswith("2024-01-01")
    with pytest.raises(KeyError, match="not a column"):
        publish_dataframe(paid, target, value="nope", client=client)
    assert len(read_stream(target, client=client, progress=False)) == 5, "a wrong argument published nothing"


def test_publish_dataframe_puts_keyed_rows_on_their_key_partition(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=3))
    rows = pd.DataFrame({"customer": [f"customer-{i % 24:02d}" for i in range(3000)], "n": range(3000)})
    acks = publish_dataframe(rows, stream_name, key="customer", client=client)
    expected = [zlib.crc32(k.encode()) % 3 for k in rows["customer"]]
    assert list(acks["partition"]) == expected and set(expected) == {0, 1, 2}, "not all in partition 0"
    back = read_stream(stream_name, client=client, progress=False)
    assert len(back) == 3000
    assert all(p == zlib.crc32(k.encode()) % 3 for p, k in zip(back["partition"], back["key"], strict=True))
    assert back.groupby("key")["partition"].nunique().max() == 1, "the same key, the same partition"


def test_accessor(client: Lift, stream_name: str) -> None:
    df = _orders(client, stream_name)
    rate = df.lift.rate("1min")
    assert int(rate.to_numpy().sum()) == 8 and set(rate.columns) <= {0, 1}
    assert df.lift.gaps().empty
    holed = df.drop(df[(df["partition"] == df["partition"].iloc[0]) & (df["offset"] == 1)].index)
    gaps = holed.lift.gaps()
    assert gaps.to_dict("records") == [
        {"partition": df["partition"].iloc[0], "first_missing": 1, "last_missing": 1, "missing": 1}
    ]
    latest = df.lift.latest_by_key()
    assert sorted(latest["key"]) == ["c0", "c1", "c2"]
    assert dict(zip(latest["key"], latest["value.n"], strict=True)) == {"c0": 6, "c1": 7, "c2": 5}
    ax = df.lift.plot_rate("1min")
    assert ax.get_ylabel() == "messages per 1min" and ax.get_title().startswith(f"{stream_name}: ")
    with pytest.raises(AttributeError, match="needs the columns"):
        _ = pd.DataFrame({"x": [1]}).lift


def test_grep_finds_text_in_keys_and_values_as_they_read(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name))
    values: list[bytes] = [
        json.dumps({"user": "Ada", "city": "Zürich"}, ensure_ascii=False).encode(),
        b"plain Ada text",
        b"\xff\x00binary",
        b"other",
    ]
    for i, value in enumerate(values):
        client.publish(Message(stream=stream_name, key=f"k{i}".encode(), value=value))
    df = read_stream(stream_name, client=client, progress=False)
    assert list(df.lift.grep("Ada")["offset"]) == [0, 1]
    assert list(df.lift.grep('"city": "Zürich"')["offset"]) == [0]  # JSON text, not escaped
    assert list(df.lift.grep("ada", case=False)["offset"]) == [0, 1]
    assert df.lift.grep("ada").empty
    assert list(df.lift.grep("k3")["offset"]) == [3]  # the key
    assert df.lift.grep("k3", columns=["value"]).empty
    assert list(df.lift.grep("0xff00")["offset"]) == [2]  # bytes that are not text, as hex
    raw = read_stream(stream_name, client=client, value="bytes", key="bytes", progress=False)
    assert list(raw.lift.grep("Zürich")["offset"]) == [0]
    client.publish(Message(stream=stream_name, value=b"no key"))  # an Arrow-backed null key: no text
    keyless = read_stream(stream_name, 4, client=client, value="bytes", key="bytes", progress=False)
    assert keyless["key"].isna().all() and keyless.lift.grep("NA").empty
    assert keyless.iloc[:0].lift.grep("x").empty
    parsed = read_stream(stream_name, client=client, flatten=False, progress=False)
    assert isinstance(parsed["value"].iloc[0], dict)  # searched as its JSON text
    assert list(parsed.lift.grep('"city": "Zürich"')["offset"]) == [0]
    with pytest.raises(ValueError, match="grep takes the text to look for"):
        df.lift.grep("")
    with pytest.raises(KeyError, match="columns='nope' is not a column"):
        df.lift.grep("x", columns="nope")


def _frame(times: list[str], partitions: list[int], **columns: list[str | None]) -> pd.DataFrame:
    """A frame as read_stream makes it (the columns df.lift needs), arrival times ``times``."""
    return pd.DataFrame(
        {
            "stream": "orders",
            "partition": pd.array(partitions, dtype="Int32"),
            "offset": range(len(times)),
            "timestamp": pd.to_datetime(times, utc=True),
            **columns,
        }
    )


def test_plot_rate_of_one_interval_shows_it_on_a_sane_axis() -> None:
    df = _frame(["2026-12-01T08:00:01Z", "2026-12-01T08:00:02Z", "2026-12-01T08:00:03Z"], [0, 1, 1])
    ax = df.lift.plot_rate("5s")
    left, right = (mdates.num2date(x) for x in ax.get_xlim())  # type: ignore[no-untyped-call]
    start = pd.Timestamp("2026-12-01T08:00:00Z")
    assert (left, right) == (start - pd.Timedelta("5s"), start + pd.Timedelta("5s")), "not 2025 to 2029"
    lines = ax.get_lines()
    assert [(list(line.get_ydata()), line.get_marker()) for line in lines] == [([1], "o"), ([2], "s")]
    assert ax.get_title() == "orders: messages per 5s by arrival time"
    assert ax.get_xlabel() == "arrival time (UTC)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["partition 0", "partition 1"]
    plt.close(ax.figure)


def test_plot_rate_styles_each_partition_apart() -> None:
    # Two partitions with the very same counts: the lines coincide, their styles tell them apart.
    times = [f"2026-12-01T08:00:{s:02d}Z" for s in range(0, 20, 2) for _ in range(2)]
    ax = _frame(times, [0, 1] * 10).lift.plot_rate("4s")
    first, second = ax.get_lines()
    assert list(first.get_ydata()) == list(second.get_ydata())
    assert (first.get_linestyle(), first.get_marker()) != (second.get_linestyle(), second.get_marker())
    assert first.get_alpha() is not None and first.get_alpha() < 1, "the line under shows through"
    plt.close(ax.figure)


def test_rate_and_plot_rate_by_an_event_time_column() -> None:
    # Arrival within a second; the bodies' own times span hours: plot those, and say so.
    arrival = [f"2026-12-01T08:00:00.{i:03d}Z" for i in range(6)]
    events = ["2026-11-30T06:10:00+00:00", "2026-11-30T07:20:00+00:00", "2026-11-30T07:40:00+00:00",
              "2026-11-30T09:00:00+01:00", "2026-11-30T09:59:00Z", None]  # fmt: skip
    df = _frame(arrival, [0, 1, 0, 1, 0, 1], **{"value.at": events})
    rate = df.lift.rate("1h", time="value.at")
    assert list(rate.index.strftime("%H:%M")) == ["06:00", "07:00", "08:00", "09:00"]
    assert rate.to_dict("list") == {0: [1, 1, 0, 1], 1: [0, 1, 1, 0]}, "09:00+01:00 is 08:00 UTC; no None"
    ax = df.lift.plot_rate("1h", time="value.at")
    assert ax.get_title() == "orders: messages per 1h by value.at" and ax.get_xlabel() == "value.at (UTC)"
    plt.close(ax.figure)
    with pytest.raises(KeyError, match=r"time='value.when' is not a column of the frame \(columns: stream, "):
        df.lift.rate("1h", time="value.when")
    with pytest.raises(ValueError, match=r"time='offset' holds int64 values, not times: convert it first"):
        df.lift.rate("1h", time="offset")
    with pytest.raises(ValueError, match=r"time='stream' holds text that is not an ISO 8601 time"):
        df.lift.rate("1h", time="stream")


def test_plot_rate_ending_a_cell_shows_one_image(
    kernel: Kernel, client: Lift, server_address: str, stream_name: str
) -> None:
    _orders(client, stream_name)
    read = kernel.run(
        "from liftbridge_nb import read_stream\n"
        f"df = read_stream({stream_name!r}, address={server_address!r}, progress=False)"
    )
    assert read.status == "ok", read.shown
    for code in ('df.lift.plot_rate("5s")', 'ax = df.lift.plot_rate("5s")', 'df.lift.plot_rate("5s");'):
        cell = kernel.run(code)
        assert cell.status == "ok", cell.shown
        images = sum("image/png" in d for d in cell.displays)
        assert images == 1, f"{code}: {images} images ({[list(d) for d in cell.displays]})"
