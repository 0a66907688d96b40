"""Client settings as value objects: timeouts, retries and backoff, TLS."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import grpc

DEFAULT_TIMEOUT = 5.0
"""Seconds any single call may take unless told otherwise."""

DEFAULT_PORT = 9292

MAX_SECONDS = 7 * 86_400.0
"""The longest timeout or wait the client takes (a week); longer ones are refused as mistakes."""


def check_seconds(name: str, value: object, *, zero: bool = False, maximum: float = MAX_SECONDS) -> float:
    """Seconds for the setting ``name``: finite, positive (or 0 with ``zero``), at most ``maximum``.

    The one check of every timeout and wait the client takes; a bool, a string, NaN,
    infinity or an absurd size raises ``TypeError``/``ValueError`` naming the setting.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} takes a number of seconds, not {type(value).__name__} {value!r}")
    seconds = float(value)
    low_ok = seconds >= 0 if zero else seconds > 0
    if not (low_ok and seconds <= maximum):  # also refuses NaN
        low = ">= 0" if zero else "> 0"
        raise ValueError(f"{name} must be {low} and at most {maximum:g} seconds, not {value!r}")
    return seconds


def check_int(name: str, value: object, *, minimum: int, maximum: int) -> int:
    """A whole number for the setting ``name`` from ``minimum`` to ``maximum`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} takes an int, not {type(value).__name__} {value!r}")
    if not minimum <= value <= maximum:
        raise ValueError(f"{name} must be from {minimum} to {maximum}, not {value!r}")
    return value


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

    Each may be a path or the PEM itself (bytes, or text with a ``-----BEGIN`` line).
    ``ca=None`` trusts the system's roots. ``server_name`` overrides the name
    checked in the server's certificate. The repr shows paths, never PEM
    contents (``<N bytes of PEM>``). Files are read when a client is created
    (:meth:`credentials`); one that cannot be read raises ``ValueError`` naming it.
    """

    ca: Path | str | bytes | None = None
    cert: Path | str | bytes | None = None
    key: Path | str | bytes | None = None
    server_name: str | None = None

    def __post_init__(self) -> None:
        for name in _PEM_FIELDS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, str | bytes | os.PathLike):
                raise TypeError(f"TLSConfig {name} takes a path or PEM bytes, not {type(value).__name__}")
        if (self.cert is None) != (self.key is None):
            raise ValueError("TLS cert and key go together: give both or neither")

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={_shown(getattr(self, name))}" for name in _PEM_FIELDS)
        return f"TLSConfig({shown}, server_name={self.server_name!r})"

    def credentials(self) -> grpc.ChannelCredentials:
        """GRPC channel credentials (reads the files named)."""
        ca, key, cert = (_pem(self.ca, "ca"), _pem(self.key, "key"), _pem(self.cert, "cert"))
        return grpc.ssl_channel_credentials(ca, key, cert)


_PEM_FIELDS = ("ca", "cert", "key")


def _is_pem_text(value: object) -> bool:
    # A path holds no line break; text that does is PEM (or a mangled key), never to be shown.
    return isinstance(value, str) and ("-----BEGIN" in value or "\n" in value)


def _shown(value: Path | str | bytes | None) -> str:
    """How the repr shows a TLS setting: a path as it is, PEM contents only by their size."""
    if isinstance(value, bytes):
        return f"<{len(value)} bytes of PEM>"
    if isinstance(value, str) and _is_pem_text(value):
        return f"<{len(value.encode())} bytes of PEM>"
    return "None" if value is None else repr(os.fspath(value))


def _pem(value: Path | str | bytes | None, what: str) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str) and _is_pem_text(value):
        return value.encode()
    path = Path(value).expanduser()
    try:
        return path.read_bytes()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ValueError(f"cannot read the TLS {what} file {os.fspath(path)!r}: {why}") from None


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
    - ``keepalive``: seconds between HTTP/2 keepalive pings on a channel with a call open
      (none without one). A Liftbridge server allows one every 5 minutes at most and
      answers more with GOAWAY "too_many_pings", which breaks the calls: keep it at 300 or more.
    - ``max_message_bytes``: the largest message the client receives.
    - ``nats``: the address of the cluster's NATS (``nats://host:port``, optionally
      ``nats://user:pass@host:port`` or ``nats://token@host:port``; no TLS).
      ``Lift.publish_many`` then publishes acked messages straight to NATS.
    - ``reconnect_backoff``: the longest wait, in seconds, between gRPC's attempts to
      reconnect to a broker that went away (gRPC's own default grows to 120 s, which
      would leave a restarted broker looking down for minutes).
    """

    timeout: float = DEFAULT_TIMEOUT
    ack_timeout: float = DEFAULT_TIMEOUT
    retries: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    resubscribe_wait: float = 30.0
    max_conns_per_broker: int = 2
    keepalive: float = 360.0
    max_message_bytes: int = 64 * 1024 * 1024
    reconnect_backoff: float = 1.0
    nats: str | None = field(default=None, repr=False)  # it may hold a password

    def __post_init__(self) -> None:
        for name in ("timeout", "ack_timeout", "reconnect_backoff"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds, not {getattr(self, name)!r}")
        if self.retries < 1 or self.max_conns_per_broker < 1:
            raise ValueError("retries and max_conns_per_broker must be at least 1")
        if self.resubscribe_wait < 0:
            raise ValueError(f"resubscribe_wait must be >= 0, not {self.resubscribe_wait}")
