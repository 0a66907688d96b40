"""liftbridge-nb's side of `make bench`: one workload in this process, one JSON line out.

Run by bench/run.py with the project's venv: ``python ours.py MODE ADDRESS STREAM COUNT [PARTITIONS | NATS]``.
Times cover the workload only, not the interpreter's start or the imports (except the import modes). So
does ``cpu_us``, the process's user + system CPU time per message over the same span: every thread of
this one process, the native module's readers and writers too (read_stream has no worker processes).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _status_mib(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS now, VmHWM its peak), in MiB."""
    status = Path("/proc/self/status").read_text().splitlines()
    line = next(line for line in status if line.startswith(field))
    return int(line.split()[1]) / 1024


def _cpu_seconds() -> float:
    """User + system CPU time of this process so far: all its threads, the native module's included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class _Span:
    """The measured part of a workload: wall time and the process's CPU time from its start."""

    cpu: float = field(default_factory=_cpu_seconds)
    wall: float = field(default_factory=time.perf_counter)

    def result(self, messages: int, **extra: Any) -> dict[str, Any]:
        """``messages``, ``seconds`` and ``cpu_us`` (CPU µs per message) since the start, and ``extra``."""
        seconds = time.perf_counter() - self.wall
        cpu = _cpu_seconds() - self.cpu
        cpu_us = cpu / messages * 1e6 if messages else 0.0
        return {"messages": messages, "seconds": seconds, "cpu_us": cpu_us, **extra}


def import_package() -> dict[str, Any]:
    started = time.perf_counter()
    import liftbridge_nb  # noqa: F401

    return {"seconds": time.perf_counter() - started}


def import_baseline() -> dict[str, Any]:
    started = time.perf_counter()
    import grpc  # noqa: F401
    import pandas  # noqa: F401

    return {"seconds": time.perf_counter() - started}


def load_ext() -> dict[str, Any]:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    started = time.perf_counter()
    shell.run_line_magic("load_ext", "liftbridge_nb")
    return {"seconds": time.perf_counter() - started}


def run(mode: str, address: str, stream: str, count: int, extra: list[str]) -> dict[str, Any]:
    from liftbridge_nb import AsyncLift, ClientOptions, Lift, Message, Start, Stop, read_stream

    # A mode ending in -nats publishes with ClientOptions(nats=...): the NATS address follows the count.
    nats = mode.endswith("-nats")
    mode = mode.removesuffix("-nats")
    options = ClientOptions(nats=extra[0]) if nats else None
    partitions = int(extra[0]) if extra and not nats else 1

    if mode == "subscribe":  # the partitions one after another: threads would only contend for the GIL
        with Lift(address) as client:
            got = 0
            span = _Span()
            for p in range(partitions):
                for _ in client.subscribe(stream, p, start=Start.earliest(), stop=Stop.latest()):
                    got += 1
            return span.result(got)
    if mode == "read-stream":  # every partition at once, in the native module's threads
        with Lift(address) as client:
            span = _Span()
            frame = read_stream(stream, client=client, progress=False)
            return span.result(len(frame))
    if mode == "memory":  # peak growth of the process during read_stream against the frame's size
        with Lift(address) as client:
            before = _status_mib("VmRSS:")
            span = _Span()
            frame = read_stream(stream, client=client, progress=False)
            result = span.result(len(frame))
            # One process holds it all: read_stream reads in the native module's threads, no workers.
            peak = _status_mib("VmHWM:") - before
            size = int(frame.memory_usage(deep=True).sum()) / 2**20
            return {**result, "peak_mib": peak, "frame_mib": size}
    if mode == "aio-subscribe":

        async def main() -> dict[str, Any]:
            async with AsyncLift(address) as client:

                async def read(p: int) -> int:
                    n = 0
                    sub = await client.subscribe(stream, p, start=Start.earliest(), stop=Stop.latest())
                    async for _ in sub:
                        n += 1
                    return n

                span = _Span()
                got = await asyncio.gather(*(read(p) for p in range(partitions)))
                return span.result(sum(got))

        return asyncio.run(main())
    value = b"x" * 100
    if mode == "publish-many":
        with Lift(address, options=options) as client:
            messages = (Message(stream=stream, value=value) for _ in range(count))
            span = _Span()
            acks = client.publish_many(messages)
            return span.result(len(acks))
    if mode == "publish-dataframe":  # liftbridge_nb.analysis.publish_dataframe: a message per row
        import pandas as pd

        from liftbridge_nb.analysis import publish_dataframe

        df = pd.DataFrame({"value": [value] * count})
        with Lift(address, options=options) as client:
            span = _Span()
            out = publish_dataframe(df, stream, value="value", client=client)
            return span.result(int(out["offset"].notna().sum()))
    if mode == "publish-loop":  # one acked publish at a time; also the round-trip latency
        with Lift(address, options=options) as client:
            client.publish(Message(stream=stream, value=value))  # connected and routed
            latencies = []
            span = _Span()
            for _ in range(count):
                sent = time.perf_counter()
                client.publish(Message(stream=stream, value=value))
                latencies.append(time.perf_counter() - sent)
            result = span.result(count)
            latencies.sort()
            return {
                **result,
                "p50_us": latencies[len(latencies) // 2] * 1e6,
                "p99_us": latencies[len(latencies) * 99 // 100] * 1e6,
            }
    raise SystemExit(f"unknown mode {mode!r}")


def main(argv: list[str]) -> None:
    mode = argv[0]
    simple = {"import": import_package, "import-baseline": import_baseline, "load-ext": load_ext}
    if mode in simple:
        result = simple[mode]()
    else:
        address, stream, count = argv[1], argv[2], int(argv[3])
        result = run(mode, address, stream, count, argv[4:])
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
