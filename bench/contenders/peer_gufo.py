"""gufo-liftbridge's side of `make bench` (run with its own venv): one workload, one JSON line.

``python gufo.py MODE ADDRESS STREAM COUNT [PARTITIONS]``. Its subscribe has no stop position, so each
partition's loop breaks after its share of COUNT; publish-bulk is its pipelined PublishAsync, waiting
for every ack.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from gufo.liftbridge.client import LiftbridgeClient
from gufo.liftbridge.types import StartPosition


async def main(mode: str, address: str, stream: str, count: int, partitions: int) -> dict[str, float]:
    async with LiftbridgeClient([address]) as client:
        if mode == "subscribe":
            share = count // partitions

            async def read(p: int) -> int:
                n = 0
                async for _ in client.subscribe(stream, partition=p, start_position=StartPosition.EARLIEST):
                    n += 1
                    if n == share:
                        break
                return n

            started = time.perf_counter()
            got = await asyncio.gather(*(read(p) for p in range(partitions)))
            return {"messages": sum(got), "seconds": time.perf_counter() - started}
        if mode == "publish-bulk":
            value = b"x" * 100
            requests = (client.get_publish_request(value, stream=stream) for _ in range(count))
            started = time.perf_counter()
            acks = 0
            async for _ in client.publish_bulk(requests):
                acks += 1
            return {"messages": acks, "seconds": time.perf_counter() - started}
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    args = sys.argv[1:]
    partitions = int(args[4]) if len(args) > 4 else 1
    print(json.dumps(asyncio.run(main(args[0], args[1], args[2], int(args[3]), partitions))))
