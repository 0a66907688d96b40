"""``%lift_connect`` (connect, switch, list, close) and ``%lift_info``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ..client import Lift
from ..config import ClientOptions, TLSConfig, default_address
from ._command import Command
from ._connections import Connection, MagicError
from ._parsing import Parser

if TYPE_CHECKING:
    from ._magic import LiftMagics

CONNECT = Parser(
    "lift_connect",
    "Connect to Liftbridge (a new connection becomes the current one), switch to a connection by its "
    "alias, list or close connections, or start a local server.",
    """  %lift_connect                  # LiftMagics.address, else $LIFTBRIDGE_ADDRESS, else localhost:9292
  %lift_connect broker1:9292 broker2:9292 --alias prod --timeout 10
  %lift_connect secure:9292 --tls-ca ca.pem --tls-cert me.pem --tls-key me.key
  %lift_connect --local                  # start a local server (stopped when the kernel exits)
  %lift_connect --local --nodes 3        # a local 3-node cluster
  %lift_connect broker:9292 --nats nats://broker:4222  # publish straight to NATS (fast)
  %lift_connect prod                     # switch to the connection named prod
  %lift_connect --list
  %lift_connect --close prod""",
)
CONNECT.add_argument(
    "addresses", nargs="*", metavar="ADDRESS",
    help="broker addresses (host:port), or the alias of a connection to switch to",
)  # fmt: skip
CONNECT.add_argument("--alias", help="the connection's name (default: 'local' or the first address)")
CONNECT.add_argument("--timeout", type=float, help="seconds each call may take (default: LiftMagics.timeout)")
CONNECT.add_argument(
    "--tls-ca", metavar="PATH", help="CA certificate (PEM) that signed the brokers' certificates"
)
CONNECT.add_argument("--tls-cert", metavar="PATH", help="client certificate (PEM), for mutual TLS")
CONNECT.add_argument("--tls-key", metavar="PATH", help="client private key (PEM), for mutual TLS")
CONNECT.add_argument("--nats", metavar="URL", help="publish straight to this NATS server (nats://host:4222)")
CONNECT.add_argument(
    "--local", action="store_true", help="start a local server (or cluster) and connect to it"
)
CONNECT.add_argument("--nodes", type=int, default=1, help="nodes of the --local cluster (default: 1)")
CONNECT.add_argument("--list", action="store_true", help="list the connections (* marks the current one)")
CONNECT.add_argument("--close", metavar="ALIAS", help="close the connection ALIAS (and its local server)")

# The flags that set up a new connection (what switching to an existing one cannot apply).
_SETTINGS = {"timeout": "--timeout", "tls_ca": "--tls-ca", "tls_cert": "--tls-cert", "tls_key": "--tls-key",
             "nats": "--nats", "alias": "--alias"}  # fmt: skip


def lift_connect(magics: LiftMagics, args: argparse.Namespace, _: str | None) -> None:
    connections = magics.connections
    if args.list:
        for alias, conn in connections.connections.items():
            mark = "*" if alias == connections.current else " "
            print(f"{mark} {alias}: {', '.join(conn.addresses)}")
        if not connections.connections:
            print("no connections")
        return
    if args.close:
        connections.close(args.close)
        print(f"closed {args.close}")
        return
    if len(args.addresses) == 1 and args.addresses[0] in connections.connections and not args.local:
        name = args.addresses[0]
        given = [flag for dest, flag in _SETTINGS.items() if getattr(args, dest) is not None]
        if not given:
            connections.current = name
            print(f"current connection: {name}")
            return
        if connections.connections[name].addresses != [name]:
            raise MagicError(
                f"{name!r} is a connection's alias, and {', '.join(given)} set up a new connection: "
                f"switch with %lift_connect {name} alone, or give the addresses "
                f"(%lift_connect ADDRESS ... --alias {name} {' '.join(given)} ...) to connect it again"
            )
        # The alias is the address itself: connect to it again with these settings (below).
    tls = None
    if args.tls_ca or args.tls_cert or args.tls_key:
        tls = TLSConfig(ca=args.tls_ca, cert=args.tls_cert, key=args.tls_key)
    if args.timeout is not None and not args.timeout > 0:
        raise MagicError(f"--timeout must be a positive number of seconds, not {args.timeout:g}")
    server = None
    if args.local:
        if args.nodes < 1:
            raise MagicError("--nodes must be at least 1")
        server, addresses = _start_local(args.nodes)
    else:
        addresses = args.addresses or [default_address(magics.address or None)]
    timeout = magics.timeout if args.timeout is None else args.timeout
    nats = args.nats or getattr(server, "nats_url", None)  # a local server's own, by default
    try:
        client = Lift(addresses=addresses, timeout=timeout, tls=tls, options=ClientOptions(nats=nats or None))
    except ValueError:  # the error policy makes it a MagicError
        if server is not None:
            (getattr(server, "close", None) or server.stop)()
        raise
    try:
        meta = client.fetch_metadata([])
    except BaseException:
        client.close()
        if server is not None:
            (getattr(server, "close", None) or server.stop)()
        raise
    alias = args.alias or ("local" if args.local else addresses[0])
    connections.add(
        Connection(alias, client, list(addresses), server, args.timeout)
    )  # closes the one it replaces
    magics.forget_names()
    brokers = ", ".join(f"{b.id} ({b.host}:{b.port})" for b in meta.brokers)
    via = f"; publishing straight to NATS at {client.nats_address}" if client.nats_address else ""
    print(f"Connected to {', '.join(addresses)} as {alias!r}; brokers: {brokers}{via}")


def _start_local(nodes: int) -> tuple[Any, list[str]]:
    """A local server (or cluster) from the binary; a container when there is no binary or Go."""
    from ..errors import ServerNotInstalledError
    from ..server import LiftbridgeContainer, LocalCluster, LocalServer

    try:
        if nodes == 1:
            server = LocalServer().start()
            return server, [server.address]
        cluster = LocalCluster(nodes).start()
        return cluster, cluster.addresses
    except ServerNotInstalledError:
        if nodes != 1:
            raise
        container = LiftbridgeContainer().start()
        return container, [container.address]


INFO = Parser("lift_info", "The current connection, its cluster and the settings.", "  %lift_info")


def lift_info(magics: LiftMagics, _args: argparse.Namespace, _: str | None) -> None:
    from .. import __version__
    from ..server import SERVER_VERSION

    conn = magics.connections.get()
    meta = conn.client.fetch_metadata(timeout=magics.call_timeout)
    local = " (local server)" if conn.server else ""
    print(f"connection: {conn.alias} -> {', '.join(conn.addresses)}{local}")
    print(f"tls: {conn.client.tls!r}" if conn.client.tls else "tls: off")  # paths only, never PEM
    if conn.timeout is not None:
        print(
            f"timeout: {conn.timeout:g} s (%lift_connect --timeout; LiftMagics.timeout for other connections)"
        )
    print(f"brokers: {len(meta.brokers)}; streams: {len(meta.streams)}")
    print(f"liftbridge-nb {__version__}; local servers run Liftbridge {SERVER_VERSION}")
    print(f"settings: timeout={magics.timeout} decode={magics.decode} progress={magics.progress} "
          f"display_limit={magics.display_limit}")  # fmt: skip


COMMANDS = (Command("lift_connect", CONNECT, lift_connect), Command("lift_info", INFO, lift_info))
