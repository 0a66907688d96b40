"""`make bench`: liftbridge-nb against go-liftbridge, python-liftbridge and gufo-liftbridge, same run.

Run: .venv/bin/python bench/run.py [--messages N] [--rounds R] [--only WORKLOAD ...]
[--skip-peers python-liftbridge,gufo]

Starts a local real server (one node), fills the streams with the Go peer, then runs each workload
with each contender in a fresh process, ``--rounds`` times, and prints medians and the ratios of ours
to each peer. Writes the table with the machine's description to ``bench/RESULTS.md``. Peers come
from `make bench`: the Go program in bench/peers/go/ built into build/bench/, and python-liftbridge
and gufo-liftbridge each in its own venv under build/bench/ (``--skip-peers`` leaves those two out).
Beside each rate, the client's CPU time (user + system) per message: ours measures its own process
over the timed part, every thread of it (read_stream reads all partitions at once in the native
module's threads, no worker processes); the Go peer's is its whole process, set-up included, from
its rusage. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import json_decode  # noqa: E402

from liftbridge_nb import Lift, Stream  # noqa: E402
from liftbridge_nb.server import SERVER_VERSION, LocalServer  # noqa: E402

BUILD = ROOT / "build" / "bench"
GO_PEER = BUILD / "liftbridge-bench-go"
PYTHON_LIFTBRIDGE_CAP = 50_000
"""python-liftbridge reads in quadratic time; a million messages would take hours."""
OURS = [sys.executable, str(ROOT / "bench" / "contenders" / "ours.py")]
PYTHON_LIFTBRIDGE = [
    str(BUILD / "venv-python-liftbridge" / "bin" / "python"),
    str(ROOT / "bench" / "contenders" / "peer_python_liftbridge.py"),
]
GUFO = [str(BUILD / "venv-gufo" / "bin" / "python"), str(ROOT / "bench" / "contenders" / "peer_gufo.py")]
PEER_VENVS = {"python-liftbridge": "venv-python-liftbridge", "gufo": "venv-gufo"}
"""The Python peers, each in its venv under build/bench/: the names ``--skip-peers`` takes."""
GO_CPU_NOTE = "client CPU of the whole Go process, set-up included"


def child(argv: list[str], *args: object, timeout: float = 3600) -> dict[str, Any]:
    """Run one contender process (``argv`` and ``args``); its last output line is its JSON result."""
    argv = [*argv, *map(str, args)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _children_cpu() -> float:
    """User + system CPU time of this process's ended (and waited-for) children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def go(mode: str, address: str, stream: str, count: int, partitions: int = 1) -> dict[str, Any]:
    """Run the Go peer; adds ``cpu_us``, its process's CPU µs per message (set-up included)."""
    argv = [str(GO_PEER), "-addr", address, "-stream", stream, "-mode", mode, "-count", str(count)]
    before = _children_cpu()  # the contenders run one at a time: the delta is this child's alone
    res = child([*argv, "-partitions", str(partitions), "-timeout", "3600s"])
    if res["messages"]:
        res["cpu_us"] = (_children_cpu() - before) / res["messages"] * 1e6
    return res


@dataclass
class Row:
    """One contender's measurements of one workload: a rate (msg/s) or a time, and extras."""

    workload: str
    contender: str
    unit: str  # "msg/s", "ms" or "MiB"
    values: list[float] = field(default_factory=list)
    extra: dict[str, list[float]] = field(default_factory=dict)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def add(self, value: float, **extra: float) -> None:
        self.values.append(value)
        for k, v in extra.items():
            self.extra.setdefault(k, []).append(v)


@dataclass
class Bench:
    address: str
    messages: int
    rounds: int
    skip: frozenset[str] = frozenset()
    """Python peers (keys of PEER_VENVS) left out."""
    rows: list[Row] = field(default_factory=list)

    def row(self, workload: str, contender: str, unit: str, note: str = "") -> Row:
        for r in self.rows:
            if (r.workload, r.contender) == (workload, contender):
                return r
        self.rows.append(Row(workload, contender, unit, note=note))
        return self.rows[-1]

    def rate(self, workload: str, contender: str, run: Callable[[], dict[str, Any]], note: str = "") -> None:
        res = run()
        extra = {k: float(v) for k, v in res.items() if k.endswith("_us")}
        self.row(workload, contender, "msg/s", note).add(res["messages"] / res["seconds"], **extra)
        cpu = f"  {res['cpu_us']:>7.2f} µs CPU/msg" if "cpu_us" in res else ""
        print(
            f"  {workload:<28} {contender:<36} {res['messages'] / res['seconds']:>12,.0f} msg/s{cpu}",
            flush=True,
        )

    def peer(self, name: str) -> bool:
        """Whether the Python peer ``name`` (a key of PEER_VENVS) runs."""
        return name not in self.skip


def fill(client: Lift, address: str, name: str, partitions: int, count: int) -> None:
    client.create_stream(Stream(subject=name, name=name, partitions=partitions))
    go("publish-async", address, name, count, partitions)


def consume_workloads(bench: Bench, one: str, four: str) -> None:
    n, a = bench.messages, bench.address
    for stream, parts, label in ((one, 1, "1. consume, 1 partition"), (four, 4, "2. consume, 4 partitions")):
        go_mode = "consume" if parts == 1 else "consume-all"  # consume-all: the partitions at once
        bench.rate(label, "go-liftbridge", lambda: go(go_mode, a, stream, n, parts), GO_CPU_NOTE)
        bench.rate(label, "ours: subscribe", lambda: child(OURS, "subscribe", a, stream, n, parts))
        bench.rate(label, "ours: read_stream", lambda: child(OURS, "read-stream", a, stream, n))
        bench.rate(
            label,
            "ours: AsyncLift subscribe",
            lambda: child(OURS, "aio-subscribe", a, stream, n, parts),
        )
        if parts == 1 and bench.peer("python-liftbridge"):  # it cannot subscribe to other partitions
            capped = min(n, PYTHON_LIFTBRIDGE_CAP)
            bench.rate(
                label,
                "python-liftbridge",
                lambda: child(PYTHON_LIFTBRIDGE, "subscribe", a, stream, capped),
                f"the first {capped:,} only: it slows as it reads (each message adds a logging handler)",
            )
        if bench.peer("gufo"):
            bench.rate(label, "gufo-liftbridge", lambda: child(GUFO, "subscribe", a, stream, n, parts))


def publish_workloads(bench: Bench, client: Lift, nats: str, loops: int) -> None:
    a, n = bench.address, bench.messages // 5
    label = "3. publish, ack leader"

    def fresh() -> str:
        name = f"bench-pub-{uuid.uuid4().hex[:8]}"
        client.create_stream(Stream(subject=name, name=name))
        return name

    bench.rate(label, "go-liftbridge: async", lambda: go("publish-async", a, fresh(), n), GO_CPU_NOTE)
    bench.rate(label, "ours: publish_many", lambda: child(OURS, "publish-many", a, fresh(), n))
    bench.rate(
        label,
        "ours: publish_dataframe",
        lambda: child(OURS, "publish-dataframe", a, fresh(), n),
        'a frame of one bytes column "value", a message per row',
    )
    if bench.peer("gufo"):
        bench.rate(label, "gufo-liftbridge: publish_bulk", lambda: child(GUFO, "publish-bulk", a, fresh(), n))
    bench.rate(label, "ours: publish loop", lambda: child(OURS, "publish-loop", a, fresh(), loops))
    if bench.peer("python-liftbridge"):
        bench.rate(
            label,
            "python-liftbridge: publish loop",
            lambda: child(PYTHON_LIFTBRIDGE, "publish-loop", a, fresh(), loops),
            "no deadline, so never acked",
        )
    label = "4. one acked publish"
    bench.rate(label, "go-liftbridge: sync", lambda: go("publish-sync", a, fresh(), loops), GO_CPU_NOTE)
    bench.rate(label, "ours: publish", lambda: child(OURS, "publish-loop", a, fresh(), loops))
    bench.rate(
        label,
        "ours: publish over NATS",
        lambda: child(OURS, "publish-loop-nats", a, fresh(), loops, nats),
        "ClientOptions(nats=...)",
    )


def memory_workload(bench: Bench, stream: str) -> None:
    """read_stream's peak growth: one process, its partitions read at once in the native threads."""
    res = child(OURS, "memory", bench.address, stream, bench.messages)
    bench.row("5. read_stream peak memory", "ours: peak growth", "MiB").add(res["peak_mib"])
    bench.row("5. read_stream peak memory", "target: 1.2 x frame + 50 MiB", "MiB").add(
        1.2 * res["frame_mib"] + 50
    )
    print(
        f"  read_stream peak growth {res['peak_mib']:.0f} MiB, frame {res['frame_mib']:.0f} MiB",
        flush=True,
    )


def import_workloads(bench: Bench) -> None:
    for mode, contender in (
        ("import-baseline", "import pandas, grpc"),
        ("import", "ours: import liftbridge_nb"),
        ("load-ext", "ours: %load_ext liftbridge_nb"),
    ):
        for _ in range(3):  # cold start differs from warm: several runs per round
            res = child(OURS, mode)
            bench.row("6. import", contender, "ms").add(res["seconds"] * 1000)


def json_workload(bench: Bench) -> None:
    ours, plain = json_decode.measure(rows=100_000)
    bench.row("7. JSON, 100k rows", "ours: bulk decode", "ms").add(ours * 1000)
    bench.row("7. JSON, 100k rows", "json.loads + json_normalize", "ms").add(plain * 1000)


RATIOS = [
    # (workload, ours, peer, target ratio, higher is better)
    ("1. consume, 1 partition", "ours: read_stream", "go-liftbridge", 1.0, True),
    ("1. consume, 1 partition", "ours: subscribe", "go-liftbridge", 0.8, True),
    ("1. consume, 1 partition", "ours: AsyncLift subscribe", "go-liftbridge", 0.8, True),
    ("1. consume, 1 partition", "ours: read_stream", "python-liftbridge", 10.0, True),
    ("1. consume, 1 partition", "ours: read_stream", "gufo-liftbridge", None, True),
    ("2. consume, 4 partitions", "ours: read_stream", "go-liftbridge", 1.0, True),  # Go: consume-all
    ("2. consume, 4 partitions", "ours: AsyncLift subscribe", "go-liftbridge", 0.8, True),
    ("2. consume, 4 partitions", "ours: read_stream", "gufo-liftbridge", None, True),
    ("3. publish, ack leader", "ours: publish_many", "go-liftbridge: async", 1.2, True),
    ("3. publish, ack leader", "ours: publish_dataframe", "go-liftbridge: async", 1.0, True),
    ("3. publish, ack leader", "ours: publish_many", "gufo-liftbridge: publish_bulk", None, True),
    ("4. one acked publish", "ours: publish", "go-liftbridge: sync", 0.8, True),
    ("4. one acked publish", "ours: publish over NATS", "go-liftbridge: sync", 1 / 1.5, True),
    ("5. read_stream peak memory", "ours: peak growth", "target: 1.2 x frame + 50 MiB", 1.0, False),
    ("6. import", "ours: import liftbridge_nb", "import pandas, grpc", 1.3, False),
    ("6. import", "ours: %load_ext liftbridge_nb", "import pandas, grpc", 1.3, False),
    ("7. JSON, 100k rows", "ours: bulk decode", "json.loads + json_normalize", 0.1, False),
]


def fmt(row: Row) -> str:
    value = row.median
    text = f"{value:,.0f} {row.unit}" if row.unit != "ms" else f"{value:,.1f} ms"
    if "p50_us" in row.extra:
        p50, p99 = (statistics.median(row.extra[k]) for k in ("p50_us", "p99_us"))
        text += f" (p50 {p50 / 1000:.2f} ms, p99 {p99 / 1000:.2f} ms)"
    if "cpu_us" in row.extra:
        text += f"; client CPU {statistics.median(row.extra['cpu_us']):.2f} µs/msg"
    return text + (f"; {row.note}" if row.note else "")


def table(bench: Bench) -> str:
    lines = ["| workload | contender | median of rounds |", "| --- | --- | --- |"]
    lines += [f"| {r.workload} | {r.contender} | {fmt(r)} |" for r in bench.rows]
    lines += ["", "| ratio | value | target | met |", "| --- | --- | --- | --- |"]
    by = {(r.workload, r.contender): r for r in bench.rows}
    for workload, ours, peer, target, higher in RATIOS:
        if (workload, ours) not in by or (workload, peer) not in by:
            continue
        a, b = by[workload, ours], by[workload, peer]
        if workload.startswith("4."):  # latency: compare p50 round trips, peer over ours
            ratio = statistics.median(b.extra["p50_us"]) / statistics.median(a.extra["p50_us"])
        else:
            ratio = a.median / b.median
        want = "" if target is None else (f">= {target:.2f}x" if higher else f"<= {target:.2f}x")
        met = (
            ""
            if target is None
            else ("yes" if (ratio >= target if higher else ratio <= target) else "**no**")
        )
        lines.append(f"| {ours} / {peer} ({workload[3:]}) | {ratio:.2f}x | {want} | {met} |")
    return "\n".join(lines)


def _output(argv: list[str]) -> str:
    """The output of ``argv``, or "" if it cannot start."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT).stdout.strip()
    except OSError:
        return ""


def machine(address: str, skip: frozenset[str]) -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    go_version = _output(["go", "version"])
    commit = _output(["git", "rev-parse", "--short", "HEAD"])
    versions = []
    for peer, venv in PEER_VENVS.items():
        name = "gufo-liftbridge" if peer == "gufo" else peer
        if peer in skip:
            versions.append(f"{name} skipped")
            continue
        shown = _output([str(BUILD / venv / "bin" / "pip"), "show", name]).splitlines()
        versions.append(f"{name} {next((v.split()[1] for v in shown if v.startswith('Version:')), '?')}")
    return (
        f"- {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}\n"
        f"- Python {platform.python_version()}, {go_version}\n"
        f"- Liftbridge {SERVER_VERSION}, one local node ({address})\n"
        f"- peers: go-liftbridge v2.4.0, {', '.join(versions)}\n"
        f"- liftbridge-nb at {commit}, {time.strftime('%Y-%m-%d %H:%M %Z')}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000, help="messages per consume workload")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loops", type=int, default=2_000, help="publishes of the one-at-a-time loops")
    parser.add_argument("--only", nargs="*", default=["consume", "publish", "memory", "import", "json"])
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument(
        "--skip-peers",
        default="",
        metavar="NAMES",
        help=f"comma-separated Python peers to leave out: {', '.join(PEER_VENVS)}",
    )
    args = parser.parse_args()
    skip = frozenset(filter(None, (name.strip() for name in args.skip_peers.split(","))))
    if unknown := skip - PEER_VENVS.keys():
        parser.error(f"--skip-peers: unknown {', '.join(sorted(unknown))} (known: {', '.join(PEER_VENVS)})")
    needed = [GO_PEER] + [BUILD / v for p, v in PEER_VENVS.items() if p not in skip]
    if missing := [str(path) for path in needed if not path.exists()]:
        parser.error(
            f"missing peers: {', '.join(missing)} (`make bench` builds them into build/bench/; "
            "--skip-peers leaves the Python ones out)"
        )
    with LocalServer() as server, Lift(server.address, timeout=30) as client:
        bench = Bench(server.address, args.messages, args.rounds, skip)
        one, four = f"bench-1p-{uuid.uuid4().hex[:6]}", f"bench-4p-{uuid.uuid4().hex[:6]}"
        if "consume" in args.only or "memory" in args.only:
            print(
                f"Filling {one} (1 partition) and {four} (4) with {args.messages:,} messages of 100 bytes",
                flush=True,
            )
            fill(client, server.address, one, 1, args.messages)
            fill(client, server.address, four, 4, args.messages)
        for round_ in range(1, args.rounds + 1):
            print(f"Round {round_} of {args.rounds}", flush=True)
            if "consume" in args.only:
                consume_workloads(bench, one, four)
            if "publish" in args.only:
                publish_workloads(bench, client, server.nats_url, args.loops)
            if "memory" in args.only:
                memory_workload(bench, one)
            if "import" in args.only:
                import_workloads(bench)
            if "json" in args.only:
                json_workload(bench)
        text = table(bench)
        print("\n" + text)
        args.results.write_text(
            "# Benchmark results\n\nWritten by `make bench` (bench/run.py): medians of "
            f"{args.rounds} rounds, {args.messages:,} messages of 100 bytes per consume workload, "
            f"{args.messages // 5:,} per pipelined publish, {args.loops:,} per one-at-a-time loop.\n\n"
            f"{machine(server.address, skip)}\n\n{text}\n"
        )
        print(f"\nWritten to {args.results}")


if __name__ == "__main__":
    main()
