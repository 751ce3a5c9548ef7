"""Benchmark the callback intake against the limits of its stack (DESIGN.md, Guarantee 1).

Run: ``.venv/bin/python bench/intake.py [--quick] [--db sqlite|postgres|both]``

Three servers, each pinned to core 0 while the load comes from core 1:
  (a) a bare aiohttp handler answering 200 — the HTTP stack alone;
  (b) verify + decrypt + parse with wechatpy, nothing stored — the stack before persistence;
  (c) scrm's full intake (``run.py serve``, intake only: no workers) — verify, decrypt, parse,
      dedupe, durable group-committed insert, ack — on SQLite (WAL, synchronous=FULL) and on
      PostgreSQL (with Redis, as in production).
For each: latency at a fixed offered 1,000 requests/s (open loop; latency counts from the
scheduled send, so queueing is never hidden; measured after a warm-up and before the overload),
then requests/s at saturation (closed loop, many keep-alive connections, fixed time). Every
request is a distinct, validly signed callback.
After each (c) run the events table must hold exactly as many events as there were 200s.

Generators: saturation uses the raw-asyncio Python generator (bench/intake_load.py) and, when
installed, also wrk for (a) and (b); the columns "srv CPU" and "gen CPU" show which side was
the limit: a figure whose generator ran near 100% CPU is a lower bound on the server, and the
ratios use, for each server, the best figure from a generator that was not the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(_ROOT), *(p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench")]

from archive.keys.key_file import generate_key_file  # noqa: E402
from bench import intake_wrk  # noqa: E402
from bench.intake_load import (  # noqa: E402
    Credentials,
    SignedCallback,
    Tally,
    closed_loop,
    make_callbacks,
    paced,
    percentile,
    raw_requests,
)
from bench.intake_procs import (  # noqa: E402
    REDIS_URL,
    Server,
    count_events,
    create_pg_database,
    drop_pg_database,
    free_port,
    pin_self_to_load_core,
    python,
    redis_reachable,
    start_server,
    steal_ticks,
)
from config.sandbox import generate_dev_credentials  # noqa: E402

TARGET_RATIO_B = 0.5  # (c) ≥ 0.5 × (b)
TARGET_P99_MS = 5.0  # at 1,000 callbacks/s
GENERATOR_BOUND = 0.9  # generator CPU share above which its figure is only a lower bound
DISTINCT_PER_SECOND = 15_000  # distinct callbacks prepared per saturation second for (c)
CYCLE_PER_SECOND = 80_000  # request slots per second for (a) and (b), cycling a pool
PAUSE = 0.5  # seconds between phases


@dataclass(frozen=True)
class Plan:
    """Phase lengths (seconds), connections and the paced rate."""

    warmup: float
    saturate: float
    paced: float
    connections: int = 64
    rate: float = 1000.0
    pool: int = 20_000


QUICK = Plan(warmup=0.5, saturate=3.0, paced=2.0, pool=5_000)
FULL = Plan(warmup=1.0, saturate=10.0, paced=5.0)


@dataclass
class Result:
    """One server's figures."""

    server: str
    database: str
    saturation: Tally | None = None
    server_cpu: float = 0.0  # share of one core during saturation
    wrk: intake_wrk.WrkResult | None = None
    latency: Tally | None = None
    check: str = "-"
    notes: list[str] = field(default_factory=list)

    @property
    def python_rate(self) -> float:
        s = self.saturation
        return s.ok / s.elapsed if s and s.elapsed else 0.0

    @property
    def generator_cpu(self) -> float:
        s = self.saturation
        return s.cpu / s.elapsed if s and s.elapsed else 0.0

    @property
    def python_bound(self) -> bool:
        return self.generator_cpu >= GENERATOR_BOUND

    def best_rate(self) -> tuple[float, str]:
        """The highest figure, and which generator gave it."""
        if self.wrk is not None and self.wrk.rate > self.python_rate:
            return self.wrk.rate, "wrk"
        return self.python_rate, "python"


class Bench:
    """Runs the phases against one server at a time; owns the temp dir and the credentials."""

    def __init__(self, plan: Plan, workdir: Path, use_wrk: bool) -> None:
        self.plan = plan
        self.workdir = workdir
        self.use_wrk = use_wrk
        raw = generate_dev_credentials()
        self.raw_creds = raw
        self.creds = Credentials(raw["corp_id"], raw["callback_token"], raw["callback_aes_key"])
        self._pool: list[SignedCallback] | None = None
        # A production-mode service refuses to start without archive keys: give it a ring.
        self.key_file = workdir / "archive-keys.json"
        generate_key_file(self.key_file)

    def pool(self) -> list[SignedCallback]:
        if self._pool is None:
            self._pool = make_callbacks(self.creds, self.plan.pool, "pool")
        return self._pool

    def cycled(self, port: int, seconds: float) -> list[bytes]:
        """Request slots for a server that stores nothing: the pool, repeated."""
        pool = raw_requests(self.pool(), "127.0.0.1", port)
        count = math.ceil(seconds * CYCLE_PER_SECOND)
        return (pool * (count // len(pool) + 1))[:count]

    def distinct(self, port: int, count: int, tag: str) -> list[bytes]:
        return raw_requests(make_callbacks(self.creds, count, tag), "127.0.0.1", port)

    def measure(self, server: Server, result: Result, *, stores: bool) -> int:
        """Warm up, pace, then saturate; return how many 200s the server gave in total.

        The fixed-rate phase runs before the overload, not after it: afterwards the database
        is busy for seconds cleaning up tens of thousands of rows (autovacuum, checkpoints),
        and that would be measured as the service's latency at 1,000 req/s.
        """
        plan, port = self.plan, server.port

        def requests(phase: str, seconds: float, per_second: float) -> list[bytes]:
            if stores:
                return self.distinct(port, math.ceil(seconds * per_second), f"{phase}")
            return self.cycled(port, seconds)

        ok = 0
        steal0 = steal_ticks()
        warm = asyncio.run(
            closed_loop(
                "127.0.0.1",
                port,
                requests("w", plan.warmup, DISTINCT_PER_SECOND),
                connections=plan.connections,
                duration=plan.warmup,
            )
        )
        ok += warm.ok
        time.sleep(PAUSE)
        lat = asyncio.run(
            paced(
                "127.0.0.1",
                port,
                requests("p", plan.paced, plan.rate),
                rate=plan.rate,
                duration=plan.paced,
                connections=plan.connections,
            )
        )
        result.latency = lat
        ok += lat.ok
        time.sleep(PAUSE)
        batch = requests("s", plan.saturate, DISTINCT_PER_SECOND)
        cpu0 = server.cpu_seconds()
        sat = asyncio.run(
            closed_loop(
                "127.0.0.1", port, batch, connections=plan.connections, duration=plan.saturate
            )
        )
        result.server_cpu = (server.cpu_seconds() - cpu0) / sat.elapsed if sat.elapsed else 0.0
        result.saturation = sat
        ok += sat.ok
        if sat.sent == len(batch):
            result.notes.append("saturation ran out of prepared requests (count-bounded)")
        del batch
        if self.use_wrk and not stores:
            time.sleep(PAUSE)
            result.wrk = intake_wrk.saturate(
                port,
                self.pool(),
                self.workdir,
                connections=plan.connections,
                duration=plan.saturate,
            )
        ticks = os.sysconf("SC_CLK_TCK")
        steal = {core: (n - steal0.get(core, n)) / ticks for core, n in steal_ticks().items()}
        result.notes.append(
            "hypervisor steal during the phases: "
            + ", ".join(f"core {core} {seconds:.2f} s" for core, seconds in sorted(steal.items()))
        )
        return ok

    def reference(self, kind: str) -> Result:
        """(a) or (b): a reference server from bench/intake_servers.py."""
        name = {"bare": "(a) bare aiohttp", "wechatpy": "(b) wechatpy v+d+p"}[kind]
        result = Result(name, "-")
        port = free_port()
        stdin = None
        if kind == "wechatpy":
            stdin = f"{self.creds.token}\n{self.creds.aes_key}\n{self.creds.corp_id}\n".encode()
        argv = [python(), str(_ROOT / "bench" / "intake_servers.py"), kind, str(port)]
        log = self.workdir / f"{kind}.log"
        with running(start_server(name, argv, port, log, stdin=stdin)) as server:
            self.measure(server, result, stores=False)
        return result

    def scrm(self, database: str) -> Result:
        """(c): the real service on a fresh database; then check stored events == 200s."""
        result = Result("(c) scrm intake", database)
        with scratch_database(database, self.workdir) as url:
            port = free_port()
            redis = database == "postgres" and redis_reachable()
            env = self.service_env(url, port, redis=redis)
            result.notes.append("KV: Redis" if redis else "KV: in-process")
            argv = [python(), str(_ROOT / "run.py"), "serve"]
            log = self.workdir / f"scrm-{database}.log"
            with running(start_server(result.server, argv, port, log, env=env)) as server:
                ok = self.measure(server, result, stores=True)
                result.notes.append(batch_note(server))
            events, runs = count_events(url)
            verdict = "OK" if events == ok else "MISMATCH"
            result.check = f"{verdict}: {events} stored / {ok} acked"
            result.notes.append(f"{runs} handler runs queued")
        return result

    def service_env(self, database_url: str, port: int, *, redis: bool) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCRM_")}
        raw = self.raw_creds
        env.update(
            SCRM_SANDBOX="0",
            SCRM_CORP_ID=raw["corp_id"],
            SCRM_CALLBACK_TOKEN=raw["callback_token"],
            SCRM_CALLBACK_AES_KEY=raw["callback_aes_key"],
            SCRM_CONTACT_SECRET=raw["contact_secret"],
            SCRM_AGENT_ID=raw["agent_id"],
            SCRM_AGENT_SECRET=raw["agent_secret"],
            SCRM_ADMIN_TOKEN=raw["admin_token"],
            SCRM_DATABASE_URL=database_url,
            SCRM_HOST="127.0.0.1",
            SCRM_PORT=str(port),
            SCRM_WORKER_CONCURRENCY="0",
            SCRM_WECOM_API_BASE="http://127.0.0.1:9",
            SCRM_VAR_DIR=str(self.workdir / "var"),
            SCRM_ARCHIVE_KEY_FILE=str(self.key_file),
        )
        if redis:
            env["SCRM_REDIS_URL"] = REDIS_URL
        return env


def batch_note(server: Server) -> str:
    """The mean group-commit size, from the service's own /metrics."""
    try:
        text = server.get("/metrics").decode()
    except OSError:
        return "inbox batch size: /metrics unavailable"
    values = {}
    for line in text.splitlines():
        if line.startswith(("scrm_inbox_batch_size_sum", "scrm_inbox_batch_size_count")):
            key, _, value = line.partition(" ")
            values[key] = float(value)
    commits = values.get("scrm_inbox_batch_size_count", 0.0)
    mean = values.get("scrm_inbox_batch_size_sum", 0.0) / commits if commits else 0.0
    return f"{commits:.0f} inbox commits, {mean:.1f} events each on average"


@contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def scratch_database(kind: str, workdir: Path) -> Iterator[str]:
    """A fresh SQLite file or PostgreSQL database, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite://{workdir / 'scrm-bench.db'}"
        return
    url = asyncio.run(create_pg_database())
    try:
        yield url
    finally:
        asyncio.run(drop_pg_database(url))


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1e3:.2f}"


def print_table(results: list[Result], plan: Plan) -> None:
    header = (
        f"{'server':<20} {'db':<9} {'generator':<10} {'req/s':>8} {'srv CPU':>8} "
        f"{'gen CPU':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'sent/failed':>12}  check"
    )
    print(
        f"\nsaturation: {plan.connections} connections, {plan.saturate:g} s closed loop;"
        f" latency: {plan.rate:,.0f} req/s offered for {plan.paced:g} s (open loop)"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        lat = r.latency
        lats = lat.latencies if lat else []
        sent = f"{lat.sent}/{lat.errors}" if lat else "-"
        print(
            f"{r.server:<20} {r.database:<9} {'python':<10} {r.python_rate:>8,.0f} "
            f"{r.server_cpu:>8.0%} {r.generator_cpu:>8.0%} {ms(percentile(lats, 0.5)):>7} "
            f"{ms(percentile(lats, 0.95)):>7} {ms(percentile(lats, 0.99)):>7} {sent:>12}  "
            f"{r.check}"
        )
        if r.wrk is not None:
            w = r.wrk
            print(
                f"{r.server:<20} {r.database:<9} {'wrk':<10} {w.rate:>8,.0f} {'':>8} {'':>8} "
                f"{'':>7} {'':>7} {'':>7} {w.requests:>7}/{w.errors:<4}  "
                f"(wrk latency p50 {w.p50_ms:.2f} / p99 {w.p99_ms:.2f} ms at saturation)"
            )
    for r in results:
        sat_errors = r.saturation.errors if r.saturation else 0
        lag = percentile(r.latency.send_lag, 0.99) if r.latency else float("nan")
        from_send = percentile(r.latency.from_send, 0.99) if r.latency else float("nan")
        notes = [
            f"saturation errors {sat_errors}",
            f"paced: generator send lag p99 {ms(lag)} ms",
            f"p99 from the actual send {ms(from_send)} ms",
        ]
        if r.python_bound:
            notes.append("python generator at its CPU limit: its req/s is a lower bound")
        print(f"  {r.server} {r.database}: " + "; ".join(notes + r.notes))


def print_ratios(results: list[Result]) -> bool:
    """Print c/b and c/a per database against the targets; True when every target is met."""
    by_name = {r.server[:3]: r for r in results if r.database == "-"}
    a, b = by_name.get("(a)"), by_name.get("(b)")
    met = True
    print()
    for c in (r for r in results if r.server.startswith("(c)")):
        rate_c, gen_c = c.best_rate()
        parts = [f"(c) {c.database}: {rate_c:,.0f} req/s ({gen_c})"]
        for ref, label in ((b, "b"), (a, "a")):
            if ref is None:
                continue
            rate_ref, gen_ref = ref.best_rate()
            ratio = rate_c / rate_ref if rate_ref else 0.0
            verdict = ""
            if label == "b":
                ok = ratio >= TARGET_RATIO_B
                met &= ok
                verdict = f" [target ≥ {TARGET_RATIO_B}: {'met' if ok else 'MISSED'}]"
            parts.append(f"c/{label} = {ratio:.2f} (vs {rate_ref:,.0f} {gen_ref}){verdict}")
        p99 = percentile(c.latency.latencies, 0.99) if c.latency else float("nan")
        ok = c.latency is not None and c.latency.errors == 0 and p99 * 1e3 <= TARGET_P99_MS
        met &= ok and c.check.startswith("OK")
        parts.append(f"p99 {ms(p99)} ms [target ≤ {TARGET_P99_MS:g}: {'met' if ok else 'MISSED'}]")
        print("; ".join(parts))
    return met


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="short phases (under a minute)")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--generator",
        choices=("auto", "python"),
        default="auto",
        help="auto: also run wrk against (a) and (b) when it is installed",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    signal.signal(signal.SIGTERM, _raise_interrupt)
    if not pin_self_to_load_core():
        print("warning: fewer than 2 cores; the generator shares the server's core")
    use_wrk = args.generator == "auto" and intake_wrk.available()
    print(
        f"generators: python raw-asyncio (closed and open loop)"
        f"{', wrk (saturation of a and b)' if use_wrk else '; wrk not installed'}"
    )
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    if "postgres" in databases and not redis_reachable():
        print("note: Redis unreachable; the PostgreSQL run uses the in-process KV")
    results: list[Result] = []
    steps: list[tuple[str, Callable[[Bench], Result]]] = [
        ("(a) bare aiohttp", lambda bench: bench.reference("bare")),
        ("(b) wechatpy", lambda bench: bench.reference("wechatpy")),
        *((f"(c) scrm on {db}", lambda bench, db=db: bench.scrm(db)) for db in databases),
    ]
    try:
        with tempfile.TemporaryDirectory(prefix="scrm-bench-intake-") as tmp:
            bench = Bench(plan, Path(tmp), use_wrk)
            for label, step in steps:
                print(f"running {label} …", flush=True)
                results.append(step(bench))
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped and scratch databases dropped", file=sys.stderr)
        return 130
    print_table(results, plan)
    met = print_ratios(results)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
