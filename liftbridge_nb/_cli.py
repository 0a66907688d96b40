"""The ``liftbridge-nb`` console command."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from .errors import LiftbridgeError


def _server(args: argparse.Namespace) -> int:
    from .server import LocalCluster, LocalServer, ServerOptions

    options = ServerOptions(cursors_partitions=args.cursors_partitions, activity_stream=args.activity_stream)
    launcher: LocalServer | LocalCluster
    if args.nodes == 1:
        launcher = LocalServer(options, port=args.port)
    else:
        if args.port:
            print(
                "liftbridge-nb: --port applies to a single node; cluster nodes get free ports",
                file=sys.stderr,
            )
        launcher = LocalCluster(args.nodes, options)
    # SIGTERM stops us as cleanly as Ctrl-C does (raised here: SIGINT is ignored in a background job).
    signal.signal(signal.SIGTERM, _interrupt)
    with launcher:
        if isinstance(launcher, LocalServer):
            addresses = [launcher.address]
            logs = [launcher.log_path]
        else:
            addresses, logs = launcher.addresses, launcher.log_paths
        print(f"Liftbridge is ready. Connect to: {','.join(addresses)}")
        print(f"  export LIFTBRIDGE_ADDRESS={addresses[0]}")
        for log in logs:
            print(f"  log: {log}")
        print("Press Ctrl-C to stop.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("\nStopping...", flush=True)
    print("Stopped; data removed.")
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _install(args: argparse.Namespace) -> int:
    from .server import build_server, find_server

    if args.force:
        build_server(force=True)
    binaries = find_server()
    print(f"liftbridge: {binaries.liftbridge}")
    print(f"nats-server: {binaries.nats_server}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``liftbridge-nb``."""
    parser = argparse.ArgumentParser(prog="liftbridge-nb", description="liftbridge-nb tools")
    sub = parser.add_subparsers(dest="command", required=True)
    server = sub.add_parser("server", help="run a local Liftbridge server or cluster in the foreground")
    server.add_argument("--nodes", type=int, default=1, help="number of nodes (default 1)")
    server.add_argument("--port", type=int, default=None, help="gRPC port of a single node (default: free)")
    server.add_argument("--cursors-partitions", type=int, default=1, help="partitions of __cursors (0: off)")
    server.add_argument("--activity-stream", action="store_true", help="enable the __activity stream")
    server.set_defaults(run=_server)
    install = sub.add_parser(
        "install-server", help="build (or find) the Liftbridge binary and print its path"
    )
    install.add_argument("--force", action="store_true", help="rebuild even when cached")
    install.set_defaults(run=_install)
    args = parser.parse_args(argv)
    if getattr(args, "nodes", 1) < 1:
        parser.error("--nodes must be at least 1")
    try:
        return int(args.run(args))
    except LiftbridgeError as exc:
        print(f"liftbridge-nb: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
