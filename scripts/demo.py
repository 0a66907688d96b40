"""`make demo` until the notebooks exist: a real local server, a stream, messages there and back.

It goes through the generated gRPC stubs (tests/stub_path.py); the client and
the quickstart notebook replace it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from liftbridge_nb.server import SERVER_VERSION, LocalServer
from tests import stub_path


def main() -> int:
    started = time.monotonic()
    with LocalServer() as server:
        print(
            f"Liftbridge {SERVER_VERSION} is ready at {server.address} ({time.monotonic() - started:.1f} s)"
        )
        print(f"  data: {server.data_dir}\n  log:  {server.log_path}")
        stream = "demo-orders"
        channel, api = stub_path.stub(server.address)
        with channel:
            stub_path.create_stream(api, stream)
            values = [f'{{"order": {i}, "item": "widget-{i}"}}'.encode() for i in range(5)]
            offsets = stub_path.publish(api, stream, values)
            print(f"Created stream {stream!r}; published {len(values)} messages, acked at offsets {offsets}")
            for message in stub_path.read_all(api, stream):
                print(f"  read offset {message.offset}: {message.value.decode()}")
            meta = stub_path.partition_metadata(api, stream)
            isr = ", ".join(meta.isr)
            print(f"Partition 0: leader {meta.leader}, ISR [{isr}], high watermark {meta.highWatermark}")
    print("Server stopped; its data directory is removed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
