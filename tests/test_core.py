"""The I/O-free call plans both clients share: when to retry a leader call, which broker to ask next."""

from __future__ import annotations

import gc
import threading
import time

import grpc
import pytest

from liftbridge_nb._core import AnyBroker, CollectorPause, Resubscribe, Retries
from liftbridge_nb.config import Backoff
from liftbridge_nb.errors import (
    ApiError,
    ErrConnection,
    ErrDeadlineExceeded,
    ErrEndOfReadonlyPartition,
    ErrIncorrectOffset,
    ErrNoSuchPartition,
    ErrNoSuchStream,
    ErrNotLeader,
    ErrPartitionPaused,
    ErrStopPositionReached,
    LiftbridgeError,
    from_rpc_error,
)
from liftbridge_nb.models import Stop

QUICK = Backoff(initial=0.01, maximum=0.02, jitter=0.0)


def test_moved_leaders_and_lost_brokers_are_retried_until_the_deadline() -> None:
    retries = Retries(30.0, QUICK, lookups=2)
    for _ in range(20):
        assert 0 < retries.wait_after(ErrNotLeader("moved")) <= 0.02
        assert 0 < retries.wait_after(ErrConnection("gone", ["a:1"])) <= 0.02
    assert retries.attempt == 40


def test_an_unknown_stream_is_looked_up_a_bounded_number_of_times() -> None:
    retries = Retries(30.0, QUICK, lookups=3)
    missing = ErrNoSuchStream("no stream named 'x'")
    retries.wait_after(missing)
    retries.wait_after(missing)
    with pytest.raises(ErrNoSuchPartition) as info:
        retries.wait_after(missing)
    assert info.value is missing


def test_other_errors_are_the_answer_at_once() -> None:
    refused = ErrIncorrectOffset("expected offset 3")
    with pytest.raises(ErrIncorrectOffset) as info:
        Retries(30.0, QUICK, lookups=5).wait_after(refused)
    assert info.value is refused


def test_a_call_out_of_time_ends_with_the_error_it_was_retrying() -> None:
    retries = Retries(30.0, QUICK, lookups=5)
    unreachable = ErrConnection("no broker reachable", ["a:1", "b:2"])
    retries.wait_after(unreachable)
    with pytest.raises(ErrConnection) as info:
        retries.wait_after(ErrDeadlineExceeded("metadata timed out after 0.001 s"))
    assert info.value is unreachable
    expired = Retries(0.0, QUICK, lookups=5)
    assert expired.remaining() == 0.001, "never 0, which gRPC reads as no deadline"
    with pytest.raises(ErrNotLeader):
        expired.wait_after(ErrNotLeader("moved"))


def test_any_broker_asks_each_once_and_shares_the_time_of_reads() -> None:
    plan = AnyBroker[str]("metadata", ["a:1", "b:2", "c:3"], 9.0, read_only=True)
    turns = [plan.next() for _ in range(4)]
    assert sorted(t[0] for t in turns if t) == ["a:1", "b:2", "c:3"] and turns[3] is None
    assert turns[0] is not None and 2.9 < turns[0][1] <= 3.0, "a read gives each broker a share"
    assert plan.moves_on(ErrDeadlineExceeded("slow")) and plan.moves_on(ErrConnection("gone"))
    assert isinstance(plan.exhausted(ErrConnection("gone")), ErrConnection)


def test_a_write_never_moves_on_after_a_timeout() -> None:
    plan = AnyBroker[str]("create", ["a:1", "b:2"], 6.0, read_only=False)
    turn = plan.next()
    assert turn is not None and turn[1] > 5.9, "a write gets the whole time"
    assert not plan.moves_on(ErrDeadlineExceeded("slow: it may have been done"))
    assert plan.moves_on(ErrConnection("refused: nothing was sent"))
    assert plan.moves_on(ErrNoSuchStream("this broker has not caught up"))
    assert isinstance(plan.exhausted(ErrNoSuchStream("x")), ErrNoSuchStream)


def test_an_answer_lacking_what_was_asked_is_kept_while_others_are_asked() -> None:
    plan = AnyBroker[str]("metadata", ["a:1", "b:2"], 4.0, read_only=True)
    first = plan.next()
    assert first is not None and plan.incomplete("stale answer", first[0]), "ask the other broker"
    second = plan.next()
    assert second is not None and not plan.incomplete("also stale", second[0]), "no broker left"
    assert plan.fallback == ("also stale", second[0])


def test_retries_follow_the_flags_of_the_error_classes() -> None:
    class Flaky(LiftbridgeError):
        retriable = True

    retries = Retries(30.0, QUICK, lookups=2)
    retries.wait_after(Flaky("try again"))
    assert not retries.refresh, "a retriable error that does not doubt the metadata keeps it"
    retries.wait_after(ErrNotLeader("moved"))
    assert retries.refresh, "a moved leader is looked up again"
    with pytest.raises(ErrDeadlineExceeded, match="slow"):
        Retries(30.0, QUICK, lookups=2).wait_after(ErrDeadlineExceeded("slow: a write may be done"))
    read = Retries(30.0, QUICK, lookups=2, read=True, attempt=2.0)
    assert read.wait_after(ErrDeadlineExceeded("slow")) > 0 and read.refresh, "a read is sent again"
    assert read.remaining() <= 2.0, "each attempt within its own bound"


def test_a_resubscription_is_bounded_by_its_wait_and_ends_with_what_was_lost() -> None:
    plan = Resubscribe(0.2, 5.0, QUICK, lookups=3)
    lost = ErrConnection("the leader went away", ["a:1"])
    assert plan.resubscribes(lost) and plan.resubscribes(ApiError("log closed", grpc.StatusCode.INTERNAL))
    assert not plan.resubscribes(ErrPartitionPaused("paused", grpc.StatusCode.FAILED_PRECONDITION))
    assert not Resubscribe(0, 5.0, QUICK, lookups=3).resubscribes(lost), "resubscribe_wait=0: never"
    retries = plan.retries(lost)
    assert retries.refresh and retries.remaining() <= 0.2, "the first attempt looks the leader up again"
    with pytest.raises(ErrConnection, match="went away"):
        while True:  # timeouts only, until the wait is over: the loss is the answer
            time.sleep(retries.wait_after(ErrDeadlineExceeded("no answer")))


def test_where_a_subscription_ends_and_what_it_raises() -> None:
    plan = Resubscribe(30, 5.0, QUICK, lookups=3)
    reached = ErrStopPositionReached("Stop offset reached", grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert plan.end(reached, Stop.latest()) == (True, None), "its own stop: a quiet end"
    over, why = plan.end(reached, None)
    assert over and isinstance(why, ErrEndOfReadonlyPartition), (
        "no stop of its own: the partition is readonly"
    )
    assert plan.end(ErrConnection("gone"), None) == (False, None)


def test_a_silent_subscription_leaves_only_a_broker_that_no_longer_serves_it() -> None:
    plan, patient = Resubscribe(30, 5.0, QUICK, lookups=3), Resubscribe(0, 5.0, QUICK, lookups=3)
    assert plan.silent("s", 0, "a:1", True) is None
    assert isinstance(plan.silent("s", 0, "a:1", False), ErrNotLeader)
    assert isinstance(plan.silent("s", 0, "a:1", None), ErrConnection), "no broker answers: it resubscribes"
    assert patient.silent("s", 0, "a:1", None) is None, "without resubscribe_wait, a failed look ends nothing"
    assert isinstance(patient.silent("s", 0, "a:1", False), ErrNotLeader)


def test_a_leaders_failed_precondition_is_not_leader_whatever_its_text() -> None:
    class Refusal(grpc.RpcError):
        def code(self) -> grpc.StatusCode:
            return grpc.StatusCode.FAILED_PRECONDITION

        def details(self) -> str:
            return "a precondition this client has never seen"

    assert isinstance(from_rpc_error(Refusal(), "partition metadata", leader_routed=True), ErrNotLeader)
    assert type(from_rpc_error(Refusal(), "group")) is ApiError, "elsewhere it means something else"


def test_the_collector_pause_is_shared_and_ends_with_its_last_holder() -> None:
    pause = CollectorPause()
    inside, go_on = threading.Event(), threading.Event()

    def other() -> None:
        with pause:
            inside.set()
            go_on.wait(10)

    thread = threading.Thread(target=other)
    try:
        with pause:
            assert not gc.isenabled()
            thread.start()
            assert inside.wait(10)
        assert not gc.isenabled(), "the other thread still holds it"
        go_on.set()
        thread.join(10)
        assert gc.isenabled()
        with pytest.raises(ZeroDivisionError), pause:
            _ = 1 / 0
        assert gc.isenabled()
    finally:
        go_on.set()
        gc.enable()
