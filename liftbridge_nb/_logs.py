"""gRPC's own logging, through the ``liftbridge_nb`` logger: nothing written into notebook cells.

gRPC logs from two places. Its C core writes lines such as ``E1201 ... Received a
GOAWAY with error code ENHANCE_YOUR_CALM and debug data equal to "too_many_pings"``
straight to file descriptor 2, from its own threads; a Jupyter kernel forwards that
descriptor to whichever cell runs at the time, minutes after the cause. Nothing in
Python can take those lines over, but the core reads ``GRPC_VERBOSITY`` once, when
``grpc`` is imported: :func:`quiet_grpc`, called before the package imports gRPC,
(run when this module is imported, the package's first import) sets it to
``NONE`` unless the user set it (or set ``GRPC_TRACE``, to debug gRPC).
What those lines said still reaches the user: the broken call's error carries the
same text, and :func:`note_rpc_error` turns the one that needs the user's action,
the broker's GOAWAY ``too_many_pings``, into one warning on ``liftbridge_nb.grpc``.

gRPC's Python loggers (``grpc``, ``grpc._channel``, ``grpc._cython.cygrpc``, ...) are
relayed to ``liftbridge_nb.grpc``, each distinct warning once. That logger has a
``NullHandler``: what it logs goes to the handlers the application configured
(``logging.basicConfig``, a notebook's own), never to stderr by Python's last resort.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

GRPC_LOG = logging.getLogger("liftbridge_nb.grpc")
"""Where gRPC's logging and the client's warnings about gRPC's connections go."""

_TOO_MANY_PINGS = "too_many_pings"


class _Once(logging.Filter):
    """Lets each distinct warning (or worse) through once per process; lower levels always."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._seen: set[tuple[str, int, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, record.getMessage())
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True


class _Relay(logging.Handler):
    """Hands the records of gRPC's Python loggers to ``liftbridge_nb.grpc``."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if GRPC_LOG.isEnabledFor(record.levelno):
                text = record.getMessage()
                GRPC_LOG.log(record.levelno, "%s: %s", record.name, text, exc_info=record.exc_info)
        except Exception:
            self.handleError(record)


_ONCE = _Once()


def quiet_grpc() -> None:
    """Keep gRPC's C core from writing to stderr, and relay its Python loggers; idempotent.

    Must run before ``grpc`` is first imported for the C core's part (it reads the
    environment then); if ``grpc`` was imported earlier, only the Python part applies.
    """
    if "grpc" not in sys.modules and "GRPC_TRACE" not in os.environ:
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    if not any(isinstance(f, _Once) for f in GRPC_LOG.filters):
        GRPC_LOG.addFilter(_ONCE)
        GRPC_LOG.addHandler(logging.NullHandler())
    grpc_logger = logging.getLogger("grpc")
    if not any(isinstance(h, _Relay) for h in grpc_logger.handlers):
        grpc_logger.addHandler(_Relay())
        grpc_logger.propagate = False


def note_rpc_error(details: str, address: str) -> None:
    """Warn (once) about a gRPC failure only the user can mend: GOAWAY ``too_many_pings`` from a broker."""
    if _TOO_MANY_PINGS in details:
        GRPC_LOG.warning(
            "a broker (%s) closed the connection with GOAWAY %s: the client sends keepalive pings more "
            "often than it allows (a Liftbridge server takes one each 5 minutes); the calls it broke "
            "are retried. Keep ClientOptions(keepalive=...) at 300 s or more",
            address or "address unknown",
            _TOO_MANY_PINGS,
        )


KEEPALIVE_FLOOR = 300.0
"""Seconds between keepalive pings a Liftbridge server (grpc-go's enforcement) takes at the most often."""


def note_keepalive(seconds: float) -> None:
    """Warn (once) about a keepalive the brokers refuse: they close connections pinged more often."""
    if seconds < KEEPALIVE_FLOOR:
        GRPC_LOG.warning(
            "ClientOptions(keepalive=%g): a Liftbridge server takes a keepalive ping each 5 minutes at "
            "the most often and closes a connection pinged more often (GOAWAY %s); subscriptions then "
            "reconnect again and again. Keep it at 300 s or more",
            seconds,
            _TOO_MANY_PINGS,
        )


quiet_grpc()  # on import, which liftbridge_nb/__init__.py does before any module imports grpc
