"""publish_dataframe and the df.lift accessor on frames read from the real server."""

from __future__ import annotations

import json
import zlib

import matplotlib
import pandas as pd
import pytest

from liftbridge_nb import Lift, Message, Stream, publish_dataframe, read_stream

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
    fig = df.lift.plot_rate("1min")
    assert fig.axes and fig.axes[0].get_ylabel() == "messages per 1min"
    with pytest.raises(AttributeError, match="needs the columns"):
        _ = pd.DataFrame({"x": [1]}).lift
