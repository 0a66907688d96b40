"""read_stream's worker processes: stretches of offsets read in parallel, where one process's GIL binds.

Reading is bound by gRPC's cost per message in one Python thread (about 10 µs);
threads would only take turns. A worker is ``python -m liftbridge_nb._workers``,
not a multiprocessing child: nothing re-imports the caller's main module (a script
without a main guard would start itself again) and nothing is forked from a process
that holds gRPC's threads. It reads pickled requests on stdin and answers on
stdout: first the client's settings, then one piece at a time (partition, first
offset, end offset), answered with its columns packed or with the error's text. A
worker exits when its stdin closes, so none outlives the reader. Workers run in a session of their
own: Ctrl-C (a terminal's, or a Jupyter kernel's interrupt, sent to the whole process group) reaches the
reader only, which kills them; none prints a traceback of its own.
"""

from __future__ import annotations

import contextlib
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

from ._columns import Columns, read_into
from .client import Lift
from .models import Start, Stop

Piece = tuple[int, int, int]  # partition, first offset, end offset (exclusive)


def read_piece(lift: Lift, stream: str, piece: Piece, timeout: float) -> Columns:
    """Offsets [first, end) of one partition, read here."""
    partition, first, end = piece
    cols = Columns()
    with lift.subscribe(
        stream, partition, start=Start.at_offset(first), stop=Stop.at_offset(end - 1), timeout=timeout
    ) as sub:
        read_into(sub, cols, threading.Event(), None, lambda n: None)
    return cols


def main() -> None:
    """A worker's life: settings, then pieces until stdin closes."""
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    seeds, tls, options = pickle.load(inp)
    with Lift(addresses=seeds, tls=tls, options=options) as lift:
        while True:
            try:
                stream, piece, timeout = pickle.load(inp)
            except EOFError:
                return
            answer: dict[str, Any] | str
            try:
                answer = read_piece(lift, stream, piece, timeout).pack()
            except Exception as exc:  # the reader reads this piece itself, for the typed error
                answer = f"{type(exc).__name__}: {exc}"
            pickle.dump(answer, out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()


class Workers:
    """``n`` worker processes for ``lift``'s cluster; a context manager that kills them on the way out."""

    def __init__(self, n: int, lift: Lift) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []
        self._feeders: list[threading.Thread] = []
        settings = (lift._cache.seeds, lift.tls, lift.options)
        for _ in range(n):
            proc = subprocess.Popen(
                [sys.executable, "-m", "liftbridge_nb._workers"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                start_new_session=True,  # out of the reader's process group: Ctrl-C is the reader's
            )
            self._procs.append(proc)
            assert proc.stdin is not None
            pickle.dump(settings, proc.stdin)
            proc.stdin.flush()

    def __enter__(self) -> Workers:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop every worker (it may be mid-piece: it is killed, not waited for)."""
        for proc in self._procs:
            proc.kill()
        for proc in self._procs:
            proc.wait()
        for feeder in self._feeders:  # each sees its worker gone; a pipe closed under a read would raise
            feeder.join()
        for proc in self._procs:
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):  # a request left unflushed to a dead worker
                        pipe.close()

    def read(
        self, stream: str, pieces: Sequence[Piece], timeout: float
    ) -> Iterator[tuple[Piece, Columns | None]]:
        """Each piece with its columns as they come in; None for a piece a worker could not read.

        Waits in slices of 0.1 s, so that Ctrl-C reaches the caller.
        """
        todo: queue.SimpleQueue[Piece] = queue.SimpleQueue()
        for piece in pieces:
            todo.put(piece)
        done: queue.SimpleQueue[tuple[Piece, dict[str, Any] | str]] = queue.SimpleQueue()
        alive = [len(self._procs)]  # feeders still running; the last to fail hands back what is left
        lock = threading.Lock()
        for proc in self._procs:
            feeder = threading.Thread(
                target=self._feed, args=(proc, stream, todo, done, timeout, alive, lock), daemon=True
            )
            feeder.start()
            self._feeders.append(feeder)
        for _ in pieces:
            while True:
                try:
                    piece, answer = done.get(timeout=0.1)
                    break
                except queue.Empty:
                    continue
            yield piece, Columns.unpack(answer) if isinstance(answer, dict) else None

    @staticmethod
    def _feed(
        proc: subprocess.Popen[bytes],
        stream: str,
        todo: queue.SimpleQueue[Piece],
        done: queue.SimpleQueue[tuple[Piece, dict[str, Any] | str]],
        timeout: float,
        alive: list[int],
        lock: threading.Lock,
    ) -> None:
        stdin, stdout = proc.stdin, proc.stdout
        assert stdin is not None and stdout is not None
        while True:
            try:
                piece = todo.get_nowait()
            except queue.Empty:
                return
            try:
                pickle.dump((stream, piece, timeout), stdin)
                stdin.flush()
                done.put((piece, pickle.load(stdout)))
            except (OSError, EOFError, pickle.UnpicklingError) as exc:  # the worker died (or was killed)
                gone = f"worker gone: {exc}"
                done.put((piece, gone))
                with lock:
                    alive[0] -= 1
                    last = alive[0] == 0
                while last:  # no worker left to take the rest: hand them back unread
                    try:
                        done.put((todo.get_nowait(), gone))
                    except queue.Empty:
                        break
                return


if __name__ == "__main__":
    main()
