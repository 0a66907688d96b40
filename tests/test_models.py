"""Models: time conversions, validation, start positions; names, headers and acks on a real server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import grpc
import pandas as pd
import pytest

from liftbridge_nb import AckPolicy, Lift, Message, Start, Stop, Stream
from liftbridge_nb._proto import api_pb2, api_pb2_grpc
from liftbridge_nb.frames import read_stream
from liftbridge_nb.models import StartKind, check_id, check_name, check_subject, from_unix_ns, to_unix_ns


def test_times_are_exact_nanoseconds() -> None:
    aware = datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert to_unix_ns(aware) == 1704164645123456000
    assert to_unix_ns(aware.astimezone(timezone(timedelta(hours=5)))) == 1704164645123456000
    naive = datetime(2024, 1, 2, 3, 4, 5, 123456)
    assert (
        to_unix_ns(naive) == int(naive.timestamp()) * 10**9 + 123456000
    )  # local time, as timestamp() reads it
    assert to_unix_ns(pd.Timestamp("2024-01-02T03:04:05.123456789Z")) == 1704164645123456789
    assert from_unix_ns(1704164645123456789) == aware
    with pytest.raises(TypeError, match="expected a datetime, not str"):
        to_unix_ns("2024-01-01")  # type: ignore[arg-type]
    assert to_unix_ns(datetime(1677, 9, 22, tzinfo=UTC)) < 0 < to_unix_ns(datetime(2262, 4, 10, tzinfo=UTC))
    for out_of_range in (datetime(1, 1, 1), datetime(1677, 9, 20, tzinfo=UTC), datetime(9999, 12, 31)):
        with pytest.raises(ValueError, match="out of range: the server takes times as 64-bit nanoseconds"):
            to_unix_ns(out_of_range)
    with pytest.raises(ValueError, match="not NaT"):
        to_unix_ns(pd.NaT)  # type: ignore[arg-type]


def test_start_positions_and_stream_copies() -> None:
    s = Stream(subject="a.b", name="s")
    assert s.start == Start.new_only()
    assert s.start_at_offset(0).start == Start(StartKind.OFFSET, offset=0)
    assert s.start_at_earliest_received().start.kind == StartKind.EARLIEST
    assert s.start_at_latest_received().start.kind == StartKind.LATEST
    assert s.start.kind == StartKind.NEW_ONLY, "the original is unchanged"
    delta = s.start_at_time_delta(timedelta(days=1)).start
    assert abs(delta.timestamp_ns - to_unix_ns(datetime.now(UTC) - timedelta(days=1))) < 5 * 10**9
    assert Stop.at_offset(0).offset == 0
    with pytest.raises(ValueError, match="stop offset must be >= 0, not -2"):
        Stop.at_offset(-2)
    assert Start.at_offset(2**63 - 1).offset == 2**63 - 1
    with pytest.raises(ValueError, match="at most 2\\*\\*63 - 1"):
        Start.at_offset(2**64)
    assert Start.at_time_delta(timedelta(0)).kind == StartKind.TIMESTAMP
    with pytest.raises(ValueError, match="how long ago, so >= 0"):
        Start.at_time_delta(timedelta(microseconds=-1))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"partitions": 0}, ValueError, "partitions must be from 1 to 10000, not 0"),
        ({"partitions": 10_001}, ValueError, "partitions must be from 1 to 10000"),
        ({"partitions": 2.5}, TypeError, "partitions must be an int, not float"),
        ({"replication_factor": 0}, ValueError, "replication_factor must be >= 1"),
        ({"replication_factor": -2}, ValueError, "replication_factor must be from -1"),
        ({"retention_max_age": timedelta(seconds=-1)}, ValueError, "retention_max_age must not be negative"),
        ({"retention_max_age": 60}, TypeError, "retention_max_age must be a timedelta"),
        ({"min_isr": 0}, ValueError, "min_isr must be from 1"),
        ({"min_isr": 3, "replication_factor": 2}, ValueError, "min_isr 3 is above replication_factor 2"),
        ({"retention_max_bytes": -5}, ValueError, "retention_max_bytes must be from 0"),
        ({"retention_max_messages": 2**63}, ValueError, "retention_max_messages must be from 0"),
        ({"encryption": 1}, TypeError, "encryption must be True or False, not 1"),
        ({"max_replication": None}, TypeError, "max_replication must be True or False"),
        ({"group": "a b"}, ValueError, "group 'a b' must be without whitespace"),
        ({"subject": "a.*"}, ValueError, "stream subject 'a.\\*' is a wildcard subject"),
        ({"subject": ">"}, ValueError, "stream subject '>' is a wildcard subject"),
        ({"start": "earliest"}, TypeError, "start takes a Start"),
    ],
)
def test_stream_validation(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Stream(**{"subject": "a", "name": "s", **kwargs})  # type: ignore[arg-type]


def test_stream_options_that_are_fine() -> None:
    """What the server does take: min_isr up to the replication, every broker, no group."""
    assert Stream(subject="a", name="s", replication_factor=3, min_isr=3).min_isr == 3
    assert Stream(subject="a", name="s", max_replication=True, min_isr=5).min_isr == 5  # the cluster's size
    assert Stream(subject="a", name="s", replication_factor=-1, min_isr=5).min_isr == 5
    assert Stream(subject="a", name="s", group="").group == ""
    assert Stream(subject="a*b.c>", name="s").subject == "a*b.c>"  # a * or > inside a token is literal


@pytest.mark.parametrize(
    ("name", "match"),
    [
        (".", "stream name '.' has an empty dot-separated part"),
        ("..", "stream name '..' has an empty dot-separated part"),
        ("a..b", "'a..b' has an empty dot-separated part"),
        ("a.", "'a.' has an empty dot-separated part"),
        (".a", "'.a' has an empty dot-separated part"),
        ("a\x00b", "must be without whitespace or control characters"),
        ("a\x7fb", "must be without whitespace or control characters"),
        ("a\u2003b", "must be without whitespace"),  # an em space
        ("x" * 256, "is 256 bytes, over 255"),
        ("../x", "'../x' has an empty dot-separated part"),
        ("a/b", "'a/b' must be without '/'"),
        ("a\\b", "must be without '/' or"),
        ("*", "'\\*' has a wildcard part"),
        ("a.>", "'a.>' has a wildcard part"),
        ("", "stream name must be non-empty: a stream name is 1 to 255 bytes"),
        ("\udc80", "is not valid UTF-8"),
    ],
)
def test_names_the_server_cannot_hold(name: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_name(name, new=True)  # a new stream's name, as Stream checks it


def test_names_made_elsewhere_that_the_server_holds_can_be_named() -> None:
    """Only a new stream's name must be without '/', '\\', control characters and wildcard parts."""
    for name in ("a/b", "a\\b", "*", "a.>", "a\x7fb", "a*b"):
        assert check_name(name) == name
    for name, match in (("a..b", "empty dot-separated part"), ("a\x00", "control"), ("a b", "whitespace")):
        with pytest.raises(ValueError, match=match):
            check_name(name)


def test_a_stream_named_elsewhere_with_a_slash_can_be_used(client: Lift, stream_name: str) -> None:
    """Another client may have made one (v1.9.0 takes it); ours reads, publishes to and deletes it."""
    name = f"{stream_name}-dir/x"
    with grpc.insecure_channel(client.addresses[0]) as channel:
        api_pb2_grpc.APIStub(channel).CreateStream(
            api_pb2.CreateStreamRequest(name=name, subject=stream_name), timeout=10
        )
    with pytest.raises(ValueError, match="must be without '/'"):
        Stream(subject=stream_name, name=name)
    assert name in client.fetch_metadata([name]).streams
    client.publish(Message(stream=name, value="v"))
    assert [m.value for m in client.subscribe(name, start=Start.earliest(), stop=Stop.latest())] == [b"v"]
    client.delete_stream(name)
    assert name not in client.fetch_metadata().streams


def test_subjects_and_ids() -> None:
    assert check_subject("a.b-c.*x") == "a.b-c.*x"
    assert check_subject("s" * 1024) == "s" * 1024
    with pytest.raises(ValueError, match="is 1025 bytes, over 1024"):
        check_subject("s" * 1025)
    with pytest.raises(ValueError, match=r"subject 'a\.\.b' has an empty token"):
        check_subject("a..b")
    with pytest.raises(TypeError, match="subject must be a str, not NoneType"):
        check_subject(None)
    assert check_id("group.1/..", "group id") == "group.1/.."  # ids are never paths or subjects
    with pytest.raises(ValueError, match="consumer id 'c 1' must be without whitespace"):
        check_id("c 1", "consumer id")
    with pytest.raises(TypeError, match="cursor id must be a str, not int"):
        check_id(1, "cursor id")


def test_message_normalizes_to_bytes() -> None:
    m = Message("v", key="k", stream="s", headers={"h": "x"}, ack_policy="all")
    assert (m.value, m.key, m.headers, m.ack_policy) == (b"v", b"k", {"h": b"x"}, AckPolicy.ALL)
    assert Message(b"raw").key is None and Message().value == b""
    with pytest.raises(TypeError, match="header 'h' must be str or bytes, not int"):
        Message(stream="s", headers={"h": 1})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match=r"partition must be an int >= 0 \(and below 2\*\*31\), not -1"):
        Message(stream="s", partition=-1)
    with pytest.raises(ValueError, match=r"partitioner must be .* a function, not .random.$"):
        Message(stream="s", partitioner="random")  # type: ignore[arg-type]
    assert Message(stream="s", partition=2**31 - 1).partition == 2**31 - 1
    assert Message(stream="s", expected_offset=-1).expected_offset == -1
    policies = [AckPolicy.of(p) for p in (0, 1, 2, "NONE", "leader")]
    assert policies == [AckPolicy.LEADER, AckPolicy.ALL, AckPolicy.NONE, AckPolicy.NONE, AckPolicy.LEADER]
    with pytest.raises(ValueError, match=r"ack_policy must be 'leader', 'all' or 'none'.*not 'some'"):
        Message(ack_policy="some")  # type: ignore[arg-type]


def test_user_headers_round_trip_and_the_servers_own_are_refused(client: Lift, stream_name: str) -> None:
    """The server overwrites headers named subject and reply: refused at publish, every other kept."""
    for name in ("subject", "reply"):
        with pytest.raises(ValueError, match=f"header '{name}' is the server's own"):
            Message(stream=stream_name, value="x", headers={name: "mine"})
    client.create_stream(Stream(subject=f"{stream_name}.subj", name=stream_name))
    headers = {"Subject": b"mine", "reply-to": b"me", "subjects": b"all", "h": b""}
    client.publish(Message(stream=stream_name, value="v", headers=headers))
    got = list(client.subscribe(stream_name, start=Start.earliest(), stop=Stop.latest()))
    assert [(m.headers, m.subject) for m in got] == [(headers, f"{stream_name}.subj")]
    frame = read_stream(stream_name, client=client, progress=False)
    text = {k: v.decode() for k, v in headers.items()}  # read_stream decodes them as it decodes values
    assert frame["headers"].tolist() == [text] and frame["subject"].tolist() == [f"{stream_name}.subj"]


def test_a_name_of_255_bytes_and_unusual_characters_work(client: Lift, stream_name: str) -> None:
    """The longest name check_name takes, and characters it leaves alone, are ones the server holds."""
    long = (stream_name + "-" + "é" * 200).encode()[:255].decode(errors="ignore")
    for name in (long, f"{stream_name}.a*b,c:d#é"):
        client.create_stream(Stream(subject=check_name(name), name=name))
        ack = client.publish(Message(stream=name, value="v"))
        assert ack is not None and ack.stream == name
        assert [m.value for m in client.subscribe(name, start=Start.earliest(), stop=Stop.latest())] == [b"v"]
        client.delete_stream(name)


def test_ack_times_are_the_servers(client: Lift, stream_name: str) -> None:
    """The server stamps every ack when it sends it: LEADER acks carry a commit time too."""
    client.create_stream(Stream(subject=stream_name, name=stream_name))
    for policy in (AckPolicy.LEADER, AckPolicy.ALL):
        ack = client.publish(Message(stream=stream_name, value="v", ack_policy=policy))
        assert ack is not None and ack.ack_policy == policy
        assert ack.committed_at is not None and ack.committed_at >= ack.received_at
        assert abs(ack.committed_at - datetime.now(UTC)) < timedelta(minutes=5)


def test_a_row_of_a_batch_is_the_message_its_arguments_make() -> None:
    # publish_dataframe makes a message per row from one that every row shares (checked once).
    shared = Message(stream="s", partitioner="key", ack_policy="all")
    row = shared._row("v", "k", {"h": "1"}, 3)
    whole = Message(
        "v", key="k", stream="s", headers={"h": "1"}, partition=3, partitioner="key", ack_policy="all"
    )
    assert row == whole and row.headers is not shared.headers
    assert shared._row(b"v", None, None, None) == Message(
        b"v", stream="s", partitioner="key", ack_policy="all"
    )
    with pytest.raises(ValueError, match="partition must be an int >= 0"):
        shared._row("v", None, None, -1)
    with pytest.raises(ValueError, match="header 'subject' is the server's own"):
        shared._row("v", None, {"subject": "x"}, None)
    with pytest.raises(TypeError, match="value must be str or bytes"):
        shared._row(1, None, None, None)  # type: ignore[arg-type]
