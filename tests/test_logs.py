"""gRPC's logging goes through the liftbridge_nb logger: no gRPC line in a notebook's cells."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from liftbridge_nb import Lift, Stream
from liftbridge_nb._logs import note_rpc_error
from tests.kernel import Cell, Kernel
from tests.tooling import ROOT

GRPC_TEXT = ("GOAWAY", "too_many_pings", "chttp2", "ENHANCE_YOUR_CALM", "keepalive")

SETUP = """
import logging, threading
from liftbridge_nb import ClientOptions, Lift, Message, Start

records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record)

logging.getLogger("liftbridge_nb").addHandler(Keep())
logging.getLogger("liftbridge_nb").setLevel(logging.INFO)
# A client that pings each second (the broker objects), reading in the background as LiveTail does.
client = Lift({address!r}, options=ClientOptions(keepalive=1))
sub = client.subscribe({stream!r}, start=Start.earliest())
threading.Thread(target=lambda: [None for _ in sub], daemon=True).start()
client.publish(Message(stream={stream!r}, value="data"))  # pings after data: the broker counts them
"""

# A later cell, running while the broker closes the connection: it waits (bounded) until the subscription
# broke and resubscribed.
WAIT = """
import time
deadline = time.monotonic() + 60
while time.monotonic() < deadline and not sub.resubscribes:
    time.sleep(0.2)
print(sub.resubscribes > 0)
"""
WARNED = (
    "print([r.name for r in records if r.levelno == logging.WARNING and 'too_many_pings' in r.getMessage()])"
)


def test_goaway_too_many_pings_reaches_no_cell_and_warns_once(
    kernel: Kernel, server_address: str, stream_name: str
) -> None:
    with Lift(server_address) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
    cells: list[Cell] = [kernel.run(SETUP.format(address=server_address, stream=stream_name))]
    assert cells[0].status == "ok", cells[0].shown

    cells.append(kernel.run(WAIT))
    assert cells[-1].stdout.strip() == "True", "the broker broke the subscription (GOAWAY), which went on"
    cells.append(kernel.run("print(len(records))"))  # and a cell after it
    cells.append(kernel.run(WARNED))
    assert cells[-1].stdout.strip() == "['liftbridge_nb.grpc']", "one warning (at once), on our logger"
    cells.append(kernel.run("sub.close(); client.close()"))
    for cell in cells:
        assert cell.status == "ok" and not cell.stderr, cell.shown
        assert not any(text in cell.stdout for text in GRPC_TEXT), f"a gRPC line in a cell: {cell.stdout}"


def _verbosity(env: dict[str, str], code: str = "import liftbridge_nb") -> str:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GRPC_")} | env
    out = subprocess.run(
        [sys.executable, "-c", f"{code}; import os; print(os.environ.get('GRPC_VERBOSITY'))"],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return out.stdout.strip()


def test_grpc_verbosity_is_set_before_grpc_is_imported_unless_the_user_chose() -> None:
    assert _verbosity({}) == "NONE"
    assert _verbosity({}, "import liftbridge_nb.client") == "NONE", "any module of the package"
    assert _verbosity({"GRPC_VERBOSITY": "DEBUG"}) == "DEBUG", "the user's choice stays"
    assert _verbosity({"GRPC_TRACE": "http"}) == "None", "debugging gRPC: its lines stay"
    assert _verbosity({}, "import grpc; import liftbridge_nb") == "None", "too late to matter: left alone"


def test_grpc_python_loggers_are_relayed_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        logging.getLogger("grpc._channel").warning("channel %s broke", "x")
        logging.getLogger("grpc._cython.cygrpc").debug("polling")
    ours = [r for r in caplog.records if r.name == "liftbridge_nb.grpc"]
    relayed = [(r.name, r.levelname, r.getMessage()) for r in ours]
    assert relayed == [
        ("liftbridge_nb.grpc", "WARNING", "grpc._channel: channel x broke"),  # once
        *[("liftbridge_nb.grpc", "DEBUG", "grpc._cython.cygrpc: polling")] * 3,
    ]


def test_a_goaway_too_many_pings_warns_once_per_broker(caplog: pytest.LogCaptureFixture) -> None:
    details = "Stream removed (Socket closed (GOAWAY received; Error code: 11; Debug Text: too_many_pings))"
    for _ in range(3):
        note_rpc_error(details, "127.0.0.1:1")
    note_rpc_error("Socket closed", "127.0.0.1:1")
    warnings = [r.getMessage() for r in caplog.records if r.name == "liftbridge_nb.grpc"]
    assert len(warnings) == 1 and "keepalive=" in warnings[0] and "127.0.0.1:1" in warnings[0]
