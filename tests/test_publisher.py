"""AsyncPublisher's bookkeeping: ack timeouts and a broken stream (the server's side is a plain iterator)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

import pytest

from liftbridge_nb import ErrAckTimeout, ErrConnection, ErrIncorrectOffset
from liftbridge_nb._proto import api_pb2
from liftbridge_nb.client._publisher import AsyncPublisher


class _Responses:
    """Stands in for the response side of a PublishAsync call: yields what the test feeds it."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[api_pb2.PublishResponse | Exception | None] = queue.SimpleQueue()
        self.requests: list[api_pb2.PublishRequest] = []

    def open(
        self, requests: Iterator[api_pb2.PublishRequest], timeout: float | None
    ) -> tuple[Iterable[api_pb2.PublishResponse], str]:
        threading.Thread(target=lambda: self.requests.extend(requests), daemon=True).start()
        return self._iter(), "fake:1"

    def _iter(self) -> Iterator[api_pb2.PublishResponse]:
        while (item := self.queue.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item


def _request(cid: str, policy: api_pb2.AckPolicy.ValueType = api_pb2.LEADER) -> api_pb2.PublishRequest:
    return api_pb2.PublishRequest(
        stream="s", value=b"v", correlationId=cid, ackPolicy=policy, expectedOffset=-1
    )


def test_acks_match_by_correlation_id_and_time_out() -> None:
    fake = _Responses()
    publisher = AsyncPublisher(fake.open)
    first = publisher.submit(_request("a"), 0, ack_timeout=5)
    late = publisher.submit(_request("b"), 1, ack_timeout=0.2)
    bad = publisher.submit(_request("c"), 0, ack_timeout=5)
    none = publisher.submit(_request("d", api_pb2.NONE), 0, ack_timeout=5)
    assert none.result(timeout=1) is None
    fake.queue.put(api_pb2.PublishResponse(correlationId="c", asyncError=api_pb2.PublishAsyncError(
        code=api_pb2.PublishAsyncError.INCORRECT_OFFSET, message="incorrect expected offset")))  # fmt: skip
    fake.queue.put(
        api_pb2.PublishResponse(correlationId="a", ack=api_pb2.Ack(stream="s", offset=7, correlationId="a"))
    )
    ack = first.result(timeout=5)
    assert ack is not None and (ack.offset, ack.partition) == (7, 0)
    with pytest.raises(ErrIncorrectOffset):
        bad.result(timeout=5)
    with pytest.raises(ErrAckTimeout):
        late.result(timeout=5)
    fake.queue.put(api_pb2.PublishResponse(correlationId="b", ack=api_pb2.Ack(offset=8)))  # too late: ignored
    publisher.close()


def test_a_broken_stream_fails_what_is_pending() -> None:
    fake = _Responses()
    publisher = AsyncPublisher(fake.open)
    pending = publisher.submit(_request("x"), 0, ack_timeout=30)
    fake.queue.put(None)  # the stream ends without an ack
    with pytest.raises(ErrConnection, match="fake:1"):
        pending.result(timeout=5)
    publisher.close()
