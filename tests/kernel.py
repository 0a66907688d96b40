"""A real Jupyter kernel for tests of what a cell shows: its outputs as a front end receives them."""

from __future__ import annotations

import os
import queue
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

from tests.tooling import ROOT

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class Cell:
    """What one executed cell sent to the front end."""

    status: str = ""
    stdout: str = ""
    stderr: str = ""
    #: ``ename``, ``evalue`` and ``traceback`` (lines, colours removed) of the cell's error, if any.
    error: dict[str, Any] | None = None
    #: The ``data`` of each display_data and execute_result, in order.
    displays: list[dict[str, Any]] = field(default_factory=list)

    @property
    def traceback(self) -> str:
        """The error's traceback as the user sees it (no colours), or ``""``."""
        return "\n".join(self.error["traceback"]) if self.error else ""

    @property
    def shown(self) -> str:
        """Every piece of text the user sees under the cell: output, warnings, the traceback."""
        plain = [d.get("text/plain", "") for d in self.displays]
        return "\n".join(part for part in (self.stdout, self.stderr, *plain, self.traceback) if part)


class Kernel:
    """An ipykernel in its own process, running this tree's ``liftbridge_nb``, started in ``cwd``."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        # Without PYTEST_CURRENT_TEST: ipykernel then forwards what is written to file descriptors 1
        # and 2 (gRPC's C core, a crashing thread) into the cells, as it does under Jupyter.
        inherited = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
        environ = {**inherited, "PYTHONPATH": str(ROOT), **(env or {})}
        self.manager: KernelManager
        self.client: BlockingKernelClient
        self.manager, self.client = start_new_kernel(
            startup_timeout=120, kernel_name="python3", cwd=str(cwd), env=environ
        )

    def run(self, code: str, *, timeout: float = 120) -> Cell:
        """Execute ``code`` as one cell and wait (bounded) until the kernel is idle again."""
        return self.collect(self.client.execute(code), timeout=timeout)

    def run_and_interrupt(
        self, code: str, when: Callable[[Cell], bool], *, timeout: float = 120
    ) -> tuple[Cell, float]:
        """Execute ``code``, interrupt the kernel (Ctrl-C) once ``when(cell so far)``; the cell and
        the seconds from the interrupt to the kernel's reply."""
        msg_id = self.client.execute(code)
        cell = Cell()
        deadline = time.monotonic() + timeout
        while not when(cell):
            if self._next(msg_id, cell, deadline):
                raise AssertionError(f"the cell ended before it was interrupted: {cell.shown}")
        interrupted = time.monotonic()
        self.manager.interrupt_kernel()
        self.collect(msg_id, timeout=timeout, cell=cell)
        return cell, time.monotonic() - interrupted

    def collect(self, msg_id: str, *, timeout: float = 120, cell: Cell | None = None) -> Cell:
        """The outputs of the cell ``msg_id`` until the kernel is idle after it."""
        cell = cell or Cell()
        deadline = time.monotonic() + timeout
        while not self._next(msg_id, cell, deadline):
            pass
        while True:
            reply = self.client.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                cell.status = reply["content"]["status"]
                return cell

    def _next(self, msg_id: str, cell: Cell, deadline: float) -> bool:
        """Take one iopub message of cell ``msg_id`` into ``cell``; whether the kernel went idle."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"the cell did not finish in time; so far: {cell.shown}")
        try:
            msg = self.client.get_iopub_msg(timeout=min(left, 1.0))
        except queue.Empty:
            return False
        if msg["parent_header"].get("msg_id") != msg_id:
            return False
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            setattr(cell, content["name"], getattr(cell, content["name"]) + content["text"])
        elif kind in ("display_data", "execute_result"):
            cell.displays.append(content["data"])
        elif kind == "error":
            lines = [_ANSI.sub("", line) for line in content["traceback"]]
            cell.error = {"ename": content["ename"], "evalue": content["evalue"], "traceback": lines}
        return bool(kind == "status" and content["execution_state"] == "idle")

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)
