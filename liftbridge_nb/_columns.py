"""A partition's messages as raw columns: filled in the read loop, packed to cross a process boundary.

No pandas here: read_stream's worker processes (see ``_workers``) import this and
the client only.
"""

from __future__ import annotations

import itertools
import threading
from array import array
from collections.abc import Callable, MutableSequence
from dataclasses import dataclass, field
from typing import Any

from .client import Subscription
from .models import SERVER_HEADERS

PROGRESS_EVERY = 2048


@dataclass
class Columns:
    """Raw columns of one partition (or a stretch of one), filled message by message."""

    offset: MutableSequence[int] = field(default_factory=list)
    timestamp: MutableSequence[int] = field(default_factory=list)
    key: list[bytes | None] = field(default_factory=list)
    value: list[bytes] = field(default_factory=list)
    headers: list[dict[str, bytes]] = field(default_factory=list)
    subject: list[str] = field(default_factory=list)
    reply: list[str] = field(default_factory=list)

    def adder(self) -> Callable[[Any], None]:
        """The function that adds one message (a protobuf), its list methods looked up once: the hot path."""
        offset, timestamp, key, value = (
            self.offset.append,
            self.timestamp.append,
            self.key.append,
            self.value.append,
        )
        headers, subject, reply = self.headers.append, self.subject.append, self.reply.append

        def add(m: Any) -> None:
            offset(m.offset)
            timestamp(m.timestamp)
            key(m.key or None)
            value(m.value)
            h = m.headers  # the server's own two are in every message's
            headers({k: v for k, v in h.items() if k not in SERVER_HEADERS} if len(h) > 2 else {})
            subject(m.subject)
            reply(m.replySubject)

        return add

    def pack(self) -> dict[str, Any]:
        """The columns as a few large objects: pickling a million small ones is what would cost."""
        return {
            "offset": array("q", self.offset),
            "timestamp": array("q", self.timestamp),
            "value": b"".join(self.value),
            "lengths": array("q", map(len, self.value)),
            "key": self.key if any(self.key) else len(self.key),  # mostly None: then only how many
            "headers": {i: h for i, h in enumerate(self.headers) if h},
            "subject": _codes(self.subject),
            "reply": _codes(self.reply),
        }

    @classmethod
    def unpack(cls, packed: dict[str, Any]) -> Columns:
        """The columns :meth:`pack` packed."""
        blob, ends = packed["value"], list(itertools.accumulate(packed["lengths"]))
        n, headers, key = len(ends), packed["headers"], packed["key"]
        return cls(
            offset=packed["offset"],
            timestamp=packed["timestamp"],
            key=[None] * key if isinstance(key, int) else key,
            value=[blob[a:b] for a, b in zip([0, *ends], ends, strict=False)],
            headers=[headers.get(i) or {} for i in range(n)],
            subject=_decoded(packed["subject"]),
            reply=_decoded(packed["reply"]),
        )


def _codes(texts: list[str]) -> tuple[list[str], array[int]]:
    """Distinct texts and, for each item, its index among them (a partition has few subjects)."""
    index: dict[str, int] = {}
    codes = array("i", [index.setdefault(t, len(index)) for t in texts])
    return list(index), codes


def _decoded(coded: tuple[list[str], array[int]]) -> list[str]:
    distinct, codes = coded
    return [distinct[c] for c in codes]


def read_into(
    sub: Subscription,
    cols: Columns,
    cancelled: threading.Event,
    limit: int | None,
    tick: Callable[[int], None],
) -> None:
    """Read ``sub`` to its end (or ``limit`` messages) into ``cols``, ticking progress as it goes."""
    n = 0
    add = cols.adder()
    for m in iter(sub.next_raw, None):
        add(m)
        n += 1
        if n % PROGRESS_EVERY == 0:
            tick(PROGRESS_EVERY)
            if cancelled.is_set():
                break
        if limit is not None and n >= limit:
            break
    tick(n % PROGRESS_EVERY)
