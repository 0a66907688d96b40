"""LiftMagics: the %lift_* commands (one configurable object, as in jupysql)."""

from __future__ import annotations

import argparse
import fnmatch
import functools
import json
import os
import re
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class, no_var_expand
from traitlets import Bool, Enum, Float, Int, Unicode
from traitlets.config import Configurable

from .._decode import Decoder
from ..client import Lift
from ..config import ClientOptions, TLSConfig
from ..errors import ErrNoSuchStream, ErrStreamExists, LiftbridgeError, amend, did_you_mean, redact_url
from ..models import AckPolicy, Message, Stream
from ._connections import Connection, ConnectionManager, MagicError
from ._parsing import Parser, duration, header, position, render

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_ADDRESS = "localhost:9292"


def _friendly(method: F) -> F:
    """Bad input as a one-line MagicError that names the flag; the package's own errors pass as they are.

    A ValueError or TypeError (a bad argument) becomes a MagicError prefixed with the magic's
    name and the flag it is about, its cause kept and any URL's password hidden. The server's
    refusals keep the class :func:`~liftbridge_nb.errors.from_rpc_error` gave them (so
    ``except ErrNoSuchStream`` works in a notebook too); an unknown stream gets a "did you mean".
    Every error of the package renders as one line in IPython (``_render_traceback_``), so
    nothing needs its cause dropped to keep the output short.
    """

    @functools.wraps(method)
    def wrapper(self: LiftMagics, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except ErrNoSuchStream as exc:
            amend(exc, self._did_you_mean(args[0] if args else ""))
            raise
        except (ValueError, TypeError) as exc:
            if isinstance(exc, LiftbridgeError):  # ErrDecode: already one line that says what to do
                raise
            text = redact_url(" ".join(str(exc).splitlines()))
            parser = self._parsers.get(method.__name__)
            flag = _flag_of(parser, text) if parser is not None else ""
            raise MagicError(f"%{method.__name__}{flag}: {text}") from exc

    return wrapper  # type: ignore[return-value]


def _flag_of(parser: Parser, text: str) -> str:
    """``" --flag"`` for the flag whose value ``text`` (an error) names first, else ``""``.

    The API's errors name its parameters (in any case: "NATS" is --nats); each flag's ``dest`` is
    the parameter it sets.
    """
    found: list[tuple[int, str]] = []
    for action in parser._actions:
        match = re.search(rf"(?<![\w-]){re.escape(action.dest)}(?![\w-])", text, re.IGNORECASE)
        if action.option_strings and match:
            found.append((match.start(), action.option_strings[-1]))
    return f" {min(found)[1]}" if found else ""


def _parsers() -> dict[str, Parser]:
    p: dict[str, Parser] = {}
    c = p["lift_connect"] = Parser("lift_connect")
    c.add_argument("addresses", nargs="*")
    c.add_argument("--alias")
    c.add_argument("--timeout", type=float)
    c.add_argument("--tls-ca")
    c.add_argument("--tls-cert")
    c.add_argument("--tls-key")
    c.add_argument("--nats", metavar="URL")
    c.add_argument("--local", action="store_true")
    c.add_argument("--nodes", type=int, default=1)
    c.add_argument("--list", action="store_true")
    c.add_argument("--close", metavar="ALIAS")
    p["lift_streams"] = Parser("lift_streams")
    p["lift_streams"].add_argument("glob", nargs="?", default="*")
    p["lift_brokers"] = Parser("lift_brokers")
    cr = p["lift_create"] = Parser("lift_create")
    cr.add_argument("name")
    cr.add_argument("--subject")
    cr.add_argument("--group")
    cr.add_argument("--partitions", type=int, default=1)
    rf = cr.add_mutually_exclusive_group()
    rf.add_argument("--replication-factor", type=int, default=1)
    rf.add_argument("--max-replication", action="store_true")
    for flag in ("--retention-max-age", "--cleaner-interval", "--segment-max-age", "--auto-pause-time"):
        cr.add_argument(flag, type=duration)
    for flag in ("--retention-max-bytes", "--retention-max-messages", "--segment-max-bytes",
                 "--compact-max-goroutines", "--min-isr"):  # fmt: skip
        cr.add_argument(flag, type=int)
    cr.add_argument("--compact", dest="compact_enabled", action=argparse.BooleanOptionalAction, default=None)
    cr.add_argument("--auto-pause-disable-if-subscribers", action="store_true", default=None)
    cr.add_argument(
        "--optimistic-concurrency", dest="optimistic_concurrency_control", action="store_true", default=None
    )
    cr.add_argument("--encryption", action="store_true", default=None)
    cr.add_argument("--exist-ok", action="store_true")
    p["lift_delete"] = Parser("lift_delete")
    p["lift_delete"].add_argument("name")
    pa = p["lift_pause"] = Parser("lift_pause")
    pa.add_argument("name")
    pa.add_argument("--partitions", type=int, nargs="+")
    pa.add_argument("--resume-all", action="store_true")
    ro = p["lift_readonly"] = Parser("lift_readonly")
    ro.add_argument("name")
    ro.add_argument("--partitions", type=int, nargs="+")
    ro.add_argument("--off", action="store_true")
    pu = p["lift_publish"] = Parser("lift_publish")
    pu.add_argument("stream")
    pu.add_argument("value", nargs="*")
    pu.add_argument("--key")
    pu.add_argument("--header", type=header, action="append", default=[])
    pu.add_argument("--partition", type=int)
    pu.add_argument("--ack", choices=["leader", "all", "none"], default="leader")
    pu.add_argument("--lines", action="store_true")
    pu.add_argument("--json", action="store_true")
    rd = p["lift_read"] = Parser("lift_read")
    rd.add_argument("stream")
    rd.add_argument("--from", dest="start", type=position)
    rd.add_argument("--to", dest="end", type=position)
    rd.add_argument("--partition", dest="partitions", type=int, nargs="+")
    rd.add_argument("--limit", dest="max_messages", type=int)
    rd.add_argument("--decode", choices=["auto", "json", "utf8", "bytes"])
    rd.add_argument("--no-progress", action="store_true")
    tail = p["lift_tail"] = Parser("lift_tail")
    tail.add_argument("stream")
    tail.add_argument("--partition", dest="partitions", type=int, nargs="+")
    tail.add_argument("--window", type=int, default=50)
    tail.add_argument("--seconds", dest="max_seconds", type=float, default=600.0)
    tail.add_argument("--messages", dest="max_messages", type=int, default=100_000)
    browse = p["lift_browse"] = Parser("lift_browse")
    browse.add_argument("stream", nargs="?")
    browse.add_argument("--page-size", type=int, default=20)
    p["lift_cluster"] = Parser("lift_cluster")
    p["lift_cluster"].add_argument("--auto-refresh", type=float)
    p["lift_info"] = Parser("lift_info")
    return p


def _pyproject_settings(start: Path) -> dict[str, Any]:
    """``[tool.liftbridge_nb]`` of the nearest pyproject.toml at or above ``start``."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                table = tomllib.loads(candidate.read_text()).get("tool", {}).get("liftbridge_nb", {})
            except tomllib.TOMLDecodeError:
                return {}
            return dict(table)
    return {}


@magics_class
class LiftMagics(Magics, Configurable):
    """Liftbridge from IPython: connect, inspect, create, publish, read.

    Settings: ``%config LiftMagics.timeout = 10`` (see ``%config LiftMagics``), or a
    ``[tool.liftbridge_nb]`` table in a pyproject.toml at or above the notebook's folder.
    """

    address = Unicode("", help="Broker address used by %lift_connect without one").tag(config=True)
    timeout = Float(5.0, min=0.001, help="Seconds each call may take").tag(config=True)
    decode = Enum(
        ["auto", "json", "utf8", "bytes"], default_value="auto", help="Default value decoder of %lift_read"
    ).tag(config=True)
    progress = Bool(True, help="Show a progress bar in %lift_read").tag(config=True)
    display_limit = Int(20, help="Rows of a frame shown by the %lift_* commands (0: all)").tag(config=True)

    def __init__(self, shell: Any) -> None:
        Configurable.__init__(self, config=shell.config)
        Magics.__init__(self, shell=shell)
        for name, value in _pyproject_settings(Path.cwd()).items():
            if self.has_trait(name) and self.trait_metadata(name, "config") is not None:
                setattr(self, name, value)
        self.connections = ConnectionManager()
        self._parsers = _parsers()
        self._names: tuple[float, list[str]] = (0.0, [])

    # -- helpers -------------------------------------------------------------------------------

    @property
    def client(self) -> Lift:
        """The current connection's client."""
        return self.connections.get().client

    def _stream_names(self) -> list[str]:
        fetched, names = self._names
        if time.monotonic() - fetched > 10 and self.connections.current is not None:
            try:
                names = sorted(self.client.fetch_metadata(timeout=self.timeout).streams)
            except LiftbridgeError:
                names = []
            self._names = (time.monotonic(), names)
        return names

    def _did_you_mean(self, line: str) -> str:
        words = line.split()
        target = next((w for w in words if not w.startswith("-")), "")
        return did_you_mean(target, self._stream_names())

    def _show(self, frame: pd.DataFrame) -> pd.DataFrame:
        limit = self.display_limit
        return frame.head(limit) if limit and len(frame) > limit else frame

    # -- commands ------------------------------------------------------------------------------

    @line_magic
    @_friendly
    def lift_connect(self, line: str) -> None:
        """Connect to Liftbridge, or manage connections.

        Usage::

            %lift_connect                          # LiftMagics.address, $LIFTBRIDGE_ADDRESS, localhost:9292
            %lift_connect broker1:9292 broker2:9292 --alias prod --timeout 10
            %lift_connect secure:9292 --tls-ca ca.pem --tls-cert me.pem --tls-key me.key
            %lift_connect --local                  # start a local server (stopped when the kernel exits)
            %lift_connect --local --nodes 3        # a local 3-node cluster
            %lift_connect broker:9292 --nats nats://broker:4222  # publish straight to NATS (fast)
            %lift_connect prod                     # switch to the connection named prod
            %lift_connect --list
            %lift_connect --close prod
        """
        args = self._parsers["lift_connect"].parse(line)
        if args.list:
            for alias, conn in self.connections.connections.items():
                mark = "*" if alias == self.connections.current else " "
                print(f"{mark} {alias}: {', '.join(conn.addresses)}")
            if not self.connections.connections:
                print("no connections")
            return
        if args.close:
            self.connections.close(args.close)
            print(f"closed {args.close}")
            return
        if len(args.addresses) == 1 and args.addresses[0] in self.connections.connections and not args.local:
            self.connections.current = args.addresses[0]
            print(f"current connection: {args.addresses[0]}")
            return
        tls = None
        if args.tls_ca or args.tls_cert or args.tls_key:
            tls = TLSConfig(ca=args.tls_ca, cert=args.tls_cert, key=args.tls_key)
        if args.timeout is not None and not args.timeout > 0:
            raise MagicError(
                f"%lift_connect: --timeout must be a positive number of seconds, not {args.timeout:g}"
            )
        server = None
        if args.local:
            if args.nodes < 1:
                raise MagicError("%lift_connect: --nodes must be at least 1")
            server, addresses = _start_local(args.nodes)
        else:
            addresses = args.addresses or [
                self.address or os.environ.get("LIFTBRIDGE_ADDRESS") or DEFAULT_ADDRESS
            ]
        timeout = self.timeout if args.timeout is None else args.timeout
        nats = args.nats or getattr(server, "nats_url", None)  # a local server's own, by default
        try:
            client = Lift(
                addresses=addresses, timeout=timeout, tls=tls, options=ClientOptions(nats=nats or None)
            )
        except ValueError:  # _friendly makes it a MagicError
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
        self.connections.add(Connection(alias, client, list(addresses), server))
        self._names = (0.0, [])
        brokers = ", ".join(f"{b.id} ({b.host}:{b.port})" for b in meta.brokers)
        via = f"; publishing straight to NATS at {client.nats_address}" if client.nats_address else ""
        print(f"Connected to {', '.join(addresses)} as {alias!r}; brokers: {brokers}{via}")

    @line_magic
    @_friendly
    def lift_streams(self, line: str) -> pd.DataFrame:
        """Streams and partitions as a DataFrame; an optional glob filters stream names.

        Usage: ``%lift_streams``, ``%lift_streams orders*``
        """
        args = self._parsers["lift_streams"].parse(line)
        frame = self.client.fetch_metadata(timeout=self.timeout).to_dataframe()
        chosen = frame[frame["stream"].map(lambda s: fnmatch.fnmatchcase(s, args.glob))].reset_index(
            drop=True
        )
        return self._show(chosen)

    @line_magic
    @_friendly
    def lift_brokers(self, line: str) -> pd.DataFrame:
        """The cluster's brokers as a DataFrame.

        Usage: ``%lift_brokers``
        """
        self._parsers["lift_brokers"].parse(line)
        return self.client.fetch_metadata([], timeout=self.timeout).brokers_dataframe()

    @line_magic
    @_friendly
    def lift_create(self, line: str) -> None:
        """Create a stream; every option of the API has a flag.

        Usage::

            %lift_create orders --partitions 3 --replication-factor 1 --retention-max-age 7d
            %lift_create events --subject app.events --max-replication --compact --auto-pause-time 10m
            %lift_create ledger --optimistic-concurrency --min-isr 2
            %lift_create orders --exist-ok         # a stream already there is kept: the cell can run again
        """
        a = self._parsers["lift_create"].parse(line)
        stream = Stream(
            subject=a.subject or a.name,
            name=a.name,
            group=a.group,
            replication_factor=a.replication_factor,
            max_replication=a.max_replication,
            partitions=a.partitions,
            retention_max_bytes=a.retention_max_bytes,
            retention_max_messages=a.retention_max_messages,
            retention_max_age=a.retention_max_age,
            cleaner_interval=a.cleaner_interval,
            segment_max_bytes=a.segment_max_bytes,
            segment_max_age=a.segment_max_age,
            compact_enabled=a.compact_enabled,
            compact_max_goroutines=a.compact_max_goroutines,
            auto_pause_time=a.auto_pause_time,
            auto_pause_disable_if_subscribers=a.auto_pause_disable_if_subscribers,
            min_isr=a.min_isr,
            optimistic_concurrency_control=a.optimistic_concurrency_control,
            encryption=a.encryption,
        )
        try:
            self.client.create_stream(stream, timeout=self.timeout)
        except ErrStreamExists:
            if not a.exist_ok:
                raise
            print(f"stream {a.name!r} exists already; kept as it is (--exist-ok)")
            return
        self._names = (0.0, [])
        print(f"created stream {a.name!r} (subject {stream.subject!r}, {a.partitions} partition(s))")

    @line_magic
    @_friendly
    def lift_delete(self, line: str) -> None:
        """Delete a stream and its data.

        Usage: ``%lift_delete orders``
        """
        a = self._parsers["lift_delete"].parse(line)
        self.client.delete_stream(a.name, timeout=self.timeout)
        self._names = (0.0, [])
        print(f"deleted stream {a.name!r}")

    @line_magic
    @_friendly
    def lift_pause(self, line: str) -> None:
        """Pause a stream's partitions (all by default).

        Usage: ``%lift_pause orders --partitions 0 1``
        """
        a = self._parsers["lift_pause"].parse(line)
        self.client.pause_stream(a.name, a.partitions, resume_all=a.resume_all, timeout=self.timeout)
        print(f"paused {a.name!r} partitions {a.partitions or 'all'}")

    @line_magic
    @_friendly
    def lift_readonly(self, line: str) -> None:
        """Make partitions readonly (all by default), or writable with ``--off``.

        Usage: ``%lift_readonly orders``, ``%lift_readonly orders --partitions 2 --off``
        """
        a = self._parsers["lift_readonly"].parse(line)
        self.client.set_stream_readonly(a.name, a.partitions, readonly=not a.off, timeout=self.timeout)
        print(f"{a.name!r} partitions {a.partitions or 'all'} {'writable' if a.off else 'readonly'}")

    @no_var_expand
    @line_cell_magic
    @_friendly
    def lift_publish(self, line: str, cell: str | None = None) -> None:
        """Publish the cell (one message, or one per line with ``--lines``) or the rest of the line.

        ``{{ name }}`` takes a value from the notebook; IPython's ``{x}`` expansion is off, so JSON
        passes untouched. ``--json`` checks that each message is JSON before anything is sent.

        Usage::

            %lift_publish orders hello world
            %%lift_publish orders --key customer-1 --header source=notebook --ack all --json
            {"order": {{ order_id }}, "amount": 12.5}
        """
        a = self._parsers["lift_publish"].parse(line)
        text = cell if cell is not None else " ".join(a.value)
        if cell is not None and a.value:
            raise MagicError("%%lift_publish: the message is the cell; put nothing after the flags")
        body = render(text, self.shell.user_ns if self.shell else {})
        values = [v for v in body.splitlines() if v.strip()] if a.lines else [body.strip("\n")]
        if not values or values == [""]:
            raise MagicError("%lift_publish: nothing to publish (give a value, or write the cell)")
        if a.json:
            for i, v in enumerate(values):
                try:
                    json.loads(v)
                except ValueError as exc:
                    where = f"line {i + 1}" if a.lines else "the message"
                    raise MagicError(
                        f"%lift_publish --json: {where} is not JSON ({exc}); nothing was published"
                    ) from exc
        key = render(a.key, self.shell.user_ns if self.shell else {}) if a.key else None
        messages = [
            Message(v, key=key, stream=a.stream, headers=dict(a.header), partition=a.partition,
                    ack_policy=AckPolicy.of(a.ack))
            for v in values
        ]  # fmt: skip
        if len(messages) == 1:
            acks = [self.client.publish(messages[0], timeout=self.timeout)]
        else:
            acks = self.client.publish_many(messages, ack_timeout=self.timeout)
        if a.ack == "none":
            print(f"published {len(messages)} message(s) to {a.stream!r} (ack policy none: no offsets)")
            return
        offsets = [ack.offset for ack in acks if ack is not None]
        partition = acks[0].partition if acks and acks[0] is not None else a.partition
        print(
            f"published {len(messages)} message(s) to {a.stream!r} partition {partition}: offsets {offsets}"
        )

    @line_magic
    @_friendly
    def lift_read(self, line: str) -> pd.DataFrame:
        """Read a stream into a DataFrame (read_stream behind a line).

        Usage::

            df = %lift_read orders
            %lift_read orders --from 100 --to 200 --partition 0
            %lift_read orders --from 2h --decode json --limit 50
            %lift_read orders --from 2026-11-30T08:00 --to latest --no-progress
        """
        from ..frames import read_stream

        a = self._parsers["lift_read"].parse(line)
        decoder: Decoder = a.decode or self.decode  # type: ignore[assignment]
        return read_stream(
            a.stream,
            a.start,
            a.end,
            partitions=a.partitions,
            client=self.client,
            value=decoder,
            max_messages=a.max_messages,
            progress=False if a.no_progress else self.progress,
            timeout=self.timeout,
        )

    @line_magic
    @_friendly
    def lift_tail(self, line: str) -> Any:
        """Follow new messages of a stream in a live widget; other cells keep running.

        Usage::

            %lift_tail orders
            %lift_tail orders --partition 0 --window 100 --seconds 120 --messages 1000
        """
        from ..widgets import LiveTail

        a = self._parsers["lift_tail"].parse(line)
        self.client.partition_count(a.stream)  # an unknown stream fails here, with a suggestion
        # LiveTail checks --window, --seconds and --messages: its ValueError becomes a MagicError.
        return LiveTail(
            self.client, a.stream, partitions=a.partitions, window=a.window,
            max_seconds=a.max_seconds, max_messages=a.max_messages,
        )  # fmt: skip

    @line_magic
    @_friendly
    def lift_browse(self, line: str) -> Any:
        """Browse a stream page by page in a widget.

        Usage: ``%lift_browse``, ``%lift_browse orders --page-size 50``
        """
        from ..widgets import StreamBrowser

        a = self._parsers["lift_browse"].parse(line)
        if a.stream is not None:
            self.client.partition_count(a.stream)  # an unknown stream fails here, with a suggestion
        return StreamBrowser(self.client, a.stream, page_size=a.page_size)

    @line_magic
    @_friendly
    def lift_cluster(self, line: str) -> Any:
        """Brokers and partitions in a widget; under-replicated partitions stand out.

        Usage: ``%lift_cluster``, ``%lift_cluster --auto-refresh 2``
        """
        from ..widgets import ClusterView

        a = self._parsers["lift_cluster"].parse(line)
        return ClusterView(self.client, auto_refresh=a.auto_refresh)

    @line_magic
    @_friendly
    def lift_info(self, line: str) -> None:
        """The current connection, its cluster and the settings.

        Usage: ``%lift_info``
        """
        self._parsers["lift_info"].parse(line)
        from .. import __version__
        from ..server import SERVER_VERSION

        conn = self.connections.get()
        meta = conn.client.fetch_metadata(timeout=self.timeout)
        local = " (local server)" if conn.server else ""
        print(f"connection: {conn.alias} -> {', '.join(conn.addresses)}{local}")
        print(f"tls: {conn.client.tls!r}" if conn.client.tls else "tls: off")  # paths only, never PEM
        print(f"brokers: {len(meta.brokers)}; streams: {len(meta.streams)}")
        print(f"liftbridge-nb {__version__}; local servers run Liftbridge {SERVER_VERSION}")
        print(f"settings: timeout={self.timeout} decode={self.decode} progress={self.progress} "
              f"display_limit={self.display_limit}")  # fmt: skip

    # -- completion ----------------------------------------------------------------------------

    def complete(self, magic: str, event: Any) -> list[str]:
        """Completions of a magic's flags and of stream names (from the kernel, for any front end)."""
        symbol = getattr(event, "symbol", "") or ""
        line = getattr(event, "line", "") or symbol
        token = "" if line.endswith(" ") else (line.split() or [""])[-1]
        if token.startswith("-"):
            # IPython completes the text after the last delimiter ("-" is one): return that part.
            cut = len(token) - len(symbol)
            parser = self._parsers[magic]
            return sorted(o[cut:] for a in parser._actions for o in a.option_strings if o.startswith(token))
        if magic == "lift_connect":
            return sorted(a for a in self.connections.connections if a.startswith(symbol))
        return [n for n in self._stream_names() if n.startswith(symbol)]


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
