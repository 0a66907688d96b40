"""liftbridge-nb's side of `make bench`: one workload in this process, one JSON line out.

Run by bench/run.py with the project's venv: ``python ours.py MODE ADDRESS STREAM COUNT [PARTITIONS | NATS]``.
Times cover the workload only, not the interpreter's start or the imports (except the import modes).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any


def _status_mib(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS now, VmHWM its peak), in MiB."""
    status = Path("/proc/self/status").read_text().splitlines()
    line = next(line for line in status if line.startswith(field))
    return int(line.split()[1]) / 1024


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
            started = time.perf_counter()
            for p in range(partitions):
                for _ in client.subscribe(stream, p, start=Start.earliest(), stop=Stop.latest()):
                    got += 1
            return {"messages": got, "seconds": time.perf_counter() - started}
    if mode == "read-stream":
        with Lift(address) as client:
            started = time.perf_counter()
            frame = read_stream(stream, client=client, progress=False)
            return {"messages": len(frame), "seconds": time.perf_counter() - started}
    if mode == "memory":  # peak growth of the process during read_stream against the frame's size
        with Lift(address) as client:
            before = _status_mib("VmRSS:")
            frame = read_stream(stream, client=client, progress=False)
            peak = _status_mib("VmHWM:") - before
            size = int(frame.memory_usage(deep=True).sum()) / 2**20
            # read_stream's worker processes (ended by now) are not in this process's figures.
            worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            return {"messages": len(frame), "peak_mib": peak, "frame_mib": size, "worker_peak_mib": worker}
    if mode == "aio-subscribe":

        async def main() -> dict[str, Any]:
            async with AsyncLift(address) as client:

                async def read(p: int) -> int:
                    n = 0
                    sub = await client.subscribe(stream, p, start=Start.earliest(), stop=Stop.latest())
                    async for _ in sub:
                        n += 1
                    return n

                started = time.perf_counter()
                got = await asyncio.gather(*(read(p) for p in range(partitions)))
                return {"messages": sum(got), "seconds": time.perf_counter() - started}

        return asyncio.run(main())
    value = b"x" * 100
    if mode == "publish-many":
        with Lift(address, options=options) as client:
            messages = (Message(stream=stream, value=value) for _ in range(count))
            started = time.perf_counter()
            acks = client.publish_many(messages)
            return {"messages": len(acks), "seconds": time.perf_counter() - started}
    if mode == "publish-loop":  # one acked publish at a time; also the round-trip latency
        with Lift(address, options=options) as client:
            client.publish(Message(stream=stream, value=value))  # connected and routed
            latencies = []
            started = time.perf_counter()
            for _ in range(count):
                sent = time.perf_counter()
                client.publish(Message(stream=stream, value=value))
                latencies.append(time.perf_counter() - sent)
            seconds = time.perf_counter() - started
            latencies.sort()
            return {
                "messages": count,
                "seconds": seconds,
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
