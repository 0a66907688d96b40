"""read_stream against a plain subscribe loop, and bulk JSON decoding against json.loads + json_normalize.

Run: .venv/bin/python bench/read_stream.py [--messages N] [--rounds R]   (or `make bench`)

On a local real server (single node): publishes N messages of 100 bytes to a
stream of 1 partition, then one of 4, and reads each back with a subscribe loop
that only counts messages and with read_stream (DataFrame built); then decodes
100,000 JSON objects of 10 fields both ways; then measures read_stream's peak
memory in a fresh process against the result's memory_usage(deep=True).
Prints medians and ratios; not a test (no assertions on time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
T = TypeVar("T")

import pandas as pd  # noqa: E402

from liftbridge_nb import Lift, Message, Start, Stop, Stream, read_stream  # noqa: E402
from liftbridge_nb._decode import decode  # noqa: E402
from liftbridge_nb.server import SERVER_VERSION, LocalServer  # noqa: E402


def fill(client: Lift, name: str, partitions: int, n: int) -> None:
    client.create_stream(Stream(subject=name, name=name, partitions=partitions))
    value = b"x" * 100
    batch = 20_000
    for lo in range(0, n, batch):
        client.publish_many(
            [
                Message(stream=name, value=value, partition=i % partitions, ack_policy="none")
                for i in range(lo, min(n, lo + batch))
            ]
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # unacked publishes: wait until every one is stored
        stored = sum(client.fetch_partition_metadata(name, p).high_watermark + 1 for p in range(partitions))
        if stored >= n:
            return
        time.sleep(0.2)
    raise SystemExit(f"only {stored} of {n} messages stored")


def plain_loop(client: Lift, name: str, partitions: int) -> int:
    count = 0
    for p in range(partitions):
        for _ in client.subscribe(name, p, start=Start.earliest(), stop=Stop.latest()):
            count += 1
    return count


def timed(fn: Callable[[], T], rounds: int) -> tuple[float, T]:
    times = []
    result = fn()  # warm-up (and the result)
    for _ in range(rounds):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def peak_memory(address: str, name: str) -> tuple[float, float]:
    """(peak RSS growth of read_stream in MiB, the frame's deep memory in MiB), in a fresh process."""
    code = (
        "import pandas, grpc, liftbridge_nb\n"
        "from liftbridge_nb import read_stream\n"
        "def status(field):\n"
        "    line = next(l for l in open('/proc/self/status') if l.startswith(field))\n"
        "    return int(line.split()[1]) / 1024\n"
        "before = status('VmRSS:')\n"
        f"df = read_stream({name!r}, address={address!r}, progress=False, value='bytes')\n"
        "print(status('VmHWM:') - before, df.memory_usage(deep=True).sum() / 2**20)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    grown, frame = out.split()
    return float(grown), float(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json-rows", type=int, default=100_000)
    args = parser.parse_args()
    go = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.strip()
    python = platform.python_version()
    print(f"machine: {os.cpu_count()} cores, Python {python}, {go}, Liftbridge {SERVER_VERSION}")
    print(f"messages: {args.messages:,} of 100 bytes; rounds: {args.rounds} (medians)\n")
    with LocalServer() as server, Lift(server.address, timeout=30) as client:
        for partitions in (1, 4):
            name = f"bench-{partitions}p"
            fill(client, name, partitions, args.messages)
            t_plain, count = timed(lambda: plain_loop(client, name, partitions), args.rounds)
            t_frame, frame = timed(
                lambda: read_stream(name, client=client, progress=False, value="bytes"), args.rounds
            )
            assert count == args.messages and len(frame) == args.messages
            plain, rs = args.messages / t_plain, args.messages / t_frame
            print(
                f"{partitions} partition(s): subscribe loop {plain:,.0f} rows/s; "
                f"read_stream {rs:,.0f} rows/s = {rs / plain:.2f}x the loop (target >= 0.7x)"
            )
        grown, frame_mib = peak_memory(server.address, "bench-1p")
        print(
            f"\nread_stream peak memory: +{grown:,.0f} MiB for a frame of {frame_mib:,.0f} MiB "
            f"(target <= 2x + 100 = {2 * frame_mib + 100:,.0f} MiB)"
        )

    rows = [
        json.dumps({f"f{j}": (i * j if j % 2 else f"text-{i}-{j}") for j in range(10)}).encode()
        for i in range(args.json_rows)
    ]
    t_base, _ = timed(lambda: pd.json_normalize([json.loads(r) for r in rows]), args.rounds)
    t_bulk, decoded = timed(lambda: decode(rows, "json", flatten=True, prefix="value"), args.rounds)
    assert decoded.fields is not None and len(decoded.fields.columns) == 10
    print(
        f"\nJSON, {args.json_rows:,} rows of 10 fields: json.loads + json_normalize {t_base:.3f} s; "
        f"read_stream's bulk decoding {t_bulk:.3f} s = {t_base / t_bulk:.1f}x faster (target >= 10x)"
    )


if __name__ == "__main__":
    main()
