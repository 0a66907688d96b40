"""Client settings as value objects: timeouts, retries and backoff, TLS."""

from __future__ import annotations

import contextlib
import os
import random
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import grpc

DEFAULT_TIMEOUT = 5.0
"""Seconds any single call may take unless told otherwise."""

DEFAULT_PORT = 9292

DEFAULT_ADDRESS = f"localhost:{DEFAULT_PORT}"
"""The broker address used when none is given and ``$LIFTBRIDGE_ADDRESS`` is not set."""


def default_address(address: str | None = None) -> str:
    """``address`` if given, else ``$LIFTBRIDGE_ADDRESS``, else :data:`DEFAULT_ADDRESS`.

    The one lookup of the address that ``read_stream``, ``publish_dataframe`` and
    ``%lift_connect`` use when they are given none.
    """
    return address or os.environ.get("LIFTBRIDGE_ADDRESS") or DEFAULT_ADDRESS


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


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} takes a number, not {type(value).__name__} {value!r}")
    return float(value)


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

    def __post_init__(self) -> None:
        check_seconds("Backoff initial", self.initial)
        if check_seconds("Backoff maximum", self.maximum) < self.initial:
            raise ValueError(f"Backoff maximum must be >= initial ({self.initial!r}), not {self.maximum!r}")
        multiplier = _number("Backoff multiplier", self.multiplier)
        if not 1 <= multiplier <= 100:
            raise ValueError(f"Backoff multiplier must be from 1 to 100, not {self.multiplier!r}")
        jitter = _number("Backoff jitter", self.jitter)
        if not 0 <= jitter <= 1:
            raise ValueError(f"Backoff jitter must be from 0 to 1 (a share of the wait), not {self.jitter!r}")

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

    def material(self) -> tuple[bytes | None, bytes | None, bytes | None]:
        """The PEMs (CA, client certificate, client key), read from the files named and checked.

        gRPC itself would only fail each connection with "Failed to create security
        handshaker", so the material is checked here, each mistake a ``ValueError``
        saying what is wrong: a CA that holds no certificate, a key that is not an
        unencrypted private key (a certificate given as the key, say), a key that
        does not belong to the certificate, a client certificate expired or not yet valid.
        """
        ca, key, cert = (_pem(self.ca, "ca"), _pem(self.key, "key"), _pem(self.cert, "cert"))
        if ca is not None:
            _check_ca(ca, self.ca)
        if cert is not None and key is not None:
            _check_pair(cert, key, self.cert, self.key)
        return ca, cert, key

    def credentials(self) -> grpc.ChannelCredentials:
        """GRPC channel credentials from :meth:`material` (which raises what is wrong with it)."""
        ca, cert, key = self.material()
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


def _path(value: Path | str | bytes | None) -> Path | None:
    """The file a TLS setting names; None when it is the PEM itself."""
    if value is None or isinstance(value, bytes) or _is_pem_text(value):
        return None
    return Path(value).expanduser()


def _named(what: str, value: Path | str | bytes | None) -> str:
    """How an error names a TLS setting: ``the TLS key file 'x.key'`` or ``the TLS key (PEM given)``."""
    path = _path(value)
    return f"the TLS {what} (PEM given)" if path is None else f"the TLS {what} file {os.fspath(path)!r}"


def _check_ca(ca: bytes, given: Path | str | bytes | None) -> None:
    try:  # PEM is ASCII; a bundle's comments may not be, and ssl takes only ASCII text
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=ca.decode("ascii", "ignore"))
    except (ssl.SSLError, ValueError):
        raise ValueError(
            f"{_named('ca', given)} holds no PEM certificate: pass the certificate of the CA that signed "
            "the broker's (-----BEGIN CERTIFICATE-----)"
        ) from None


@contextlib.contextmanager
def _as_file(data: bytes, given: Path | str | bytes | None) -> Iterator[str]:
    """The file a setting names, or a private temporary one holding ``data`` (PEM given in memory)."""
    path = _path(given)
    if path is not None:
        yield str(path)
        return
    with tempfile.TemporaryDirectory() as d:  # mode 0700, removed at once
        path = Path(d, "pem")
        path.touch(mode=0o600)
        path.write_bytes(data)
        yield str(path)


def _check_pair(
    cert: bytes, key: bytes, cert_given: Path | str | bytes | None, key_given: Path | str | bytes | None
) -> None:
    """The client certificate and key: a private key, of that certificate, the certificate valid now."""
    named_key, named_cert = _named("key", key_given), _named("cert", cert_given)
    if b"PRIVATE KEY-----" not in key:
        held = "a certificate" if b"CERTIFICATE-----" in key else "no PEM private key"
        raise ValueError(
            f"{named_key} holds {held}: pass the client's private key (-----BEGIN PRIVATE KEY-----) as key"
        )
    if b"ENCRYPTED" in key:
        raise ValueError(f"{named_key} is encrypted: gRPC takes only an unencrypted private key")
    try:
        der = ssl.PEM_cert_to_DER_cert(cert.decode("ascii", "ignore"))
    except ValueError:
        raise ValueError(
            f"{named_cert} holds no PEM certificate: pass the client's (-----BEGIN CERTIFICATE-----)"
        ) from None
    with _as_file(cert, cert_given) as cert_file, _as_file(key, key_given) as key_file:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert_file, key_file, password=b"")
        except ssl.SSLError as exc:
            if exc.reason == "KEY_VALUES_MISMATCH":
                raise ValueError(
                    f"{named_key} does not belong to {named_cert}: pass the key made with that certificate"
                ) from None
            raise ValueError(f"{named_cert} and {named_key} cannot be used: {exc.reason or exc}") from None
    valid = _validity(der)
    now = datetime.now(UTC)
    if valid is not None and not valid[0] <= now <= valid[1]:
        late = now > valid[1]
        state = (
            f"expired on {valid[1]:%Y-%m-%d %H:%M} UTC"
            if late
            else f"is not valid before {valid[0]:%Y-%m-%d %H:%M} UTC"
        )
        raise ValueError(
            f"{named_cert} {state}: brokers refuse it; renew the client certificate (and check the clock)"
        )


def _der(data: bytes, at: int) -> tuple[int, int, int]:
    """The DER element at ``at``: its tag, where its contents start and where they end."""
    tag, size, at = data[at], data[at + 1], at + 2
    if size & 0x80:
        count = size & 0x7F
        size, at = int.from_bytes(data[at : at + count], "big"), at + count
    return tag, at, at + size


def _validity(cert: bytes) -> tuple[datetime, datetime] | None:
    """A DER certificate's notBefore and notAfter (RFC 5280 4.1.2.5); None if it cannot be read."""
    try:
        _, at, _ = _der(cert, 0)  # Certificate
        _, at, _ = _der(cert, at)  # TBSCertificate
        tag, _, end = _der(cert, at)
        at = end if tag == 0xA0 else at  # the version, when given
        for _ in range(3):  # serialNumber, signature, issuer
            at = _der(cert, at)[2]
        _, at, _ = _der(cert, at)  # Validity
        times = []
        for _ in range(2):
            tag, start, at = _der(cert, at)
            text = cert[start:at].decode("ascii")
            if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ, years 1950 to 2049
                text = ("19" if int(text[:2]) >= 50 else "20") + text
            times.append(datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC))
    except (IndexError, ValueError):
        return None
    return times[0], times[1]


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
    - ``max_message_bytes``: the largest gRPC message the client sends or receives, from
      1 MiB (what a broker's NATS takes by default) to 2 GiB - 1.
    - ``nats``: the address of the cluster's NATS (``nats://host:port``, optionally
      ``nats://user:pass@host:port`` or ``nats://token@host:port``; no TLS).
      ``Lift.publish`` then publishes acked messages straight to NATS (a shorter round
      trip; ``publish_many`` goes through the brokers, faster for a batch).
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
        for name in ("timeout", "ack_timeout"):
            check_seconds(name, getattr(self, name))
        check_seconds("resubscribe_wait", self.resubscribe_wait, zero=True)
        # gRPC takes these in whole milliseconds; keepalive pings more often than each second
        # would only get the channel closed by the broker ("too many pings").
        if check_seconds("keepalive", self.keepalive) < 1:
            raise ValueError(f"keepalive must be at least 1 second, not {self.keepalive!r}")
        if check_seconds("reconnect_backoff", self.reconnect_backoff) < 0.001:
            raise ValueError(f"reconnect_backoff must be at least 0.001 s, not {self.reconnect_backoff!r}")
        check_int("retries", self.retries, minimum=1, maximum=1000)
        check_int("max_conns_per_broker", self.max_conns_per_broker, minimum=1, maximum=64)
        check_int("max_message_bytes", self.max_message_bytes, minimum=1024 * 1024, maximum=2**31 - 1)
        if not isinstance(self.backoff, Backoff):
            raise TypeError(f"backoff takes a Backoff, not {type(self.backoff).__name__}")
        if self.nats is not None and not isinstance(self.nats, str):
            raise TypeError(f"nats takes an address (nats://host:port), not {type(self.nats).__name__}")
