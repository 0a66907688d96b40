"""python-liftbridge 0.0.7's side of `make bench` (run with its own venv): one workload, one JSON line.

``python python_liftbridge.py MODE ADDRESS STREAM COUNT``. Its subscribe reads partition 0 only and has
no stop position, so the loop breaks after COUNT messages; its first item is the server's empty
handshake, which it hands over as a message. Its publish sets no deadline, so the server never waits
for the ack: the loop measures unacknowledged publishes.
"""

from __future__ import annotations

import json
import sys
import time

from python_liftbridge import Lift, Message, Stream


def main(mode: str, address: str, stream: str, count: int) -> dict[str, float]:
    client = Lift(ip_address=address, timeout=5)
    if mode == "subscribe":
        started = time.perf_counter()
        start = Stream(subject=stream, name=stream).start_at_earliest_received()
        for seen, _ in enumerate(client.subscribe(start), 1):
            if seen == count + 1:  # the handshake, then COUNT messages
                break
        return {"messages": count, "seconds": time.perf_counter() - started}
    if mode == "publish-loop":
        value = "x" * 100  # it encodes str values itself and refuses bytes
        started = time.perf_counter()
        for _ in range(count):
            client.publish(Message(value=value, stream=stream))
        return {"messages": count, "seconds": time.perf_counter() - started}
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))))
