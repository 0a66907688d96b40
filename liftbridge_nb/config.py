"""Client settings as value objects: timeouts, retries and backoff, TLS."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import grpc

DEFAULT_TIMEOUT = 5.0
"""Seconds any single call may take unless told otherwise."""

DEFAULT_PORT = 9292


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter.

    Retry *n* waits ``initial * multiplier**n`` seconds, at most ``maximum``, give or take ``jitter``.
    """

    initial: float = 0.05
    maximum: float = 1.0
    multiplier: float = 2.0
    jitter: float = 0.5

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        base = min(self.maximum, self.initial * self.multiplier**attempt)
        return base * (1 - self.jitter + 2 * self.jitter * random.random())


@dataclass(frozen=True)
class TLSConfig:
    """TLS for the client: the CA to trust and, for mutual TLS, a client certificate and key.

    Each may be a path or the PEM bytes. ``ca=None`` trusts the system's roots.
    ``server_name`` overrides the name checked in the server's certificate.
    """

    ca: Path | str | bytes | None = None
    cert: Path | str | bytes | None = None
    key: Path | str | bytes | None = None
    server_name: str | None = None

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise ValueError("TLS cert and key go together: give both or neither")

    def credentials(self) -> grpc.ChannelCredentials:
        """GRPC channel credentials."""
        return grpc.ssl_channel_credentials(_pem(self.ca), _pem(self.key), _pem(self.cert))


def _pem(value: Path | str | bytes | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return Path(value).expanduser().read_bytes()


@dataclass(frozen=True)
class ClientOptions:
    """How the client behaves; every field has a sensible default.

    - ``timeout``: seconds for each call (metadata, admin, publish, subscribe set-up).
    - ``ack_timeout``: seconds a pipelined publish waits for its ack.
    - ``retries``: attempts of a call routed to a leader before its error surfaces.
    - ``backoff``: waits between those attempts.
    - ``resubscribe_wait``: seconds a subscription keeps trying to resubscribe after
      losing its leader or connection, before it raises.
    - ``max_conns_per_broker``: channels per broker that subscriptions spread over.
    - ``keepalive``: seconds between HTTP/2 keepalive pings on idle channels.
    - ``max_message_bytes``: the largest message the client receives.
    """

    timeout: float = DEFAULT_TIMEOUT
    ack_timeout: float = DEFAULT_TIMEOUT
    retries: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    resubscribe_wait: float = 30.0
    max_conns_per_broker: int = 2
    keepalive: float = 30.0
    max_message_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("timeout", "ack_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds, not {getattr(self, name)!r}")
        if self.retries < 1 or self.max_conns_per_broker < 1:
            raise ValueError("retries and max_conns_per_broker must be at least 1")
        if self.resubscribe_wait < 0:
            raise ValueError(f"resubscribe_wait must be >= 0, not {self.resubscribe_wait}")
