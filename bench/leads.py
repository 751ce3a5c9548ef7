"""Benchmark the lead form's whole chain: page POST → stored → assigned → assignee notified.

Run: ``.venv/bin/python bench/leads.py [--quick] [--db sqlite|postgres]``

Everything runs for real in one process: the service (intake, inbox, 4 workers), the WeCom
sandbox that receives the assignee's app message (``message/send``), and the load. Each
submission is a browser-like POST of the form with its CSRF cookie and token; every one has its
own phone number (no dedupe), the rate limits are lifted for the run (one client address).

Two measurements:
- throughput: 32 submitters back to back for the run's length — submissions stored per second
  (POST answered 303) and notices per second once the chain is settled;
- latency at a fixed rate (open loop, default 50/s): submit → notified, from the moment the
  POST is sent to the sandbox's answer to the assignee's app message; p50 and p99.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(_ROOT), *(p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench")]

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from bench.intake_procs import create_pg_database, drop_pg_database  # noqa: E402
from config import load_settings  # noqa: E402
from scrm.leads import web as leads_web  # noqa: E402
from scrm.sandbox.app import SandboxServer  # noqa: E402
from scrm.sandbox.config import SandboxConfig  # noqa: E402

NAME = re.compile(r"新线索：(客户\d+)")
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
SUBMITTERS = 32


@dataclass
class Result:
    label: str
    seconds: float
    submitted: int = 0
    refused: int = 0
    notified: list[float] = field(default_factory=list)
    stored_per_s: float = 0.0
    notified_per_s: float = 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def one_run(label: str, rate: int | None, seconds: float, db: str, workdir: Path) -> Result:
    from run import build_app

    var = workdir / label.replace(" ", "_").replace("/", "")
    url = f"sqlite://{var}/scrm.db" if db == "sqlite" else await create_pg_database()
    env = {
        "SCRM_VAR_DIR": str(var),
        "SCRM_DATABASE_URL": url,
        "SCRM_WORKER_CONCURRENCY": "4",
        "SCRM_LOG_LEVEL": "ERROR",
    }
    if db == "postgres":
        env["SCRM_REDIS_URL"] = "redis://127.0.0.1:6379/0"
    settings = load_settings(env)
    sandbox = SandboxServer(SandboxConfig.from_settings(settings.wecom))
    await sandbox.start()
    settings = dataclasses.replace(
        settings, wecom=dataclasses.replace(settings.wecom, api_base=sandbox.url)
    )
    leads_web.IP_LIMIT = (10**9, 1.0)  # one client address sends everything
    app = build_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    service = f"http://127.0.0.1:{runner.addresses[0][1]}"
    state = sandbox.state
    for userid in ("zhangsan", "lisi", "wangwu"):
        state.add_staff(userid)
    auth = {"Authorization": f"Bearer {settings.admin_token.value}"}
    result = Result(label, seconds)
    sent_at: dict[str, float] = {}
    try:
        # A cookie jar that keeps cookies of an IP-address host (the CSRF cookie).
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            body = {"name": "bench", "kind": "form", "staff": ["zhangsan", "lisi", "wangwu"]}
            async with http.post(service + "/api/v1/channels", json=body, headers=auth) as r:
                channel = await r.json()
                assert r.status == 201, channel
            form = f"{service}/c/{channel['state']}"
            async with http.get(form) as r:
                html = await r.text()
            found = TOKEN.search(html)
            assert found, "no CSRF token on the page"
            token = found.group(1)

            async def submit(n: int) -> None:
                name = f"客户{n}"
                data = {
                    "csrf_token": token,
                    "consent": "1",
                    "name": name,
                    "phone": f"139{n:08d}",
                }
                sent_at[name] = time.time()
                async with http.post(form, data=data, allow_redirects=False) as r:
                    await r.read()
                    if r.status == 303:
                        result.submitted += 1
                    else:
                        result.refused += 1

            start = time.monotonic()
            if rate is None:  # throughput: back to back
                counter = iter(range(10**9))

                async def submitter() -> None:
                    while time.monotonic() - start < seconds:
                        await submit(next(counter))

                await asyncio.gather(*(submitter() for _ in range(SUBMITTERS)))
            else:  # open loop at a fixed rate
                tasks = []
                for n in range(int(rate * seconds)):
                    delay = start + n / rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.append(asyncio.create_task(submit(n)))
                await asyncio.gather(*tasks)
            elapsed = time.monotonic() - start
            result.stored_per_s = result.submitted / elapsed
            await _wait_settled(state, result.submitted, timeout=120.0)
            settled = time.monotonic() - start
            for call in state.calls.find("message/send"):
                content = str(((call.json or {}).get("text") or {}).get("content"))
                hit = NAME.search(content)
                if hit and hit.group(1) in sent_at and call.errcode == 0:
                    result.notified.append(call.time - sent_at[hit.group(1)])
            result.notified_per_s = len(result.notified) / settled
    finally:
        await runner.cleanup()
        await sandbox.stop()
        if db == "postgres":
            await drop_pg_database(url)
    return result


async def _wait_settled(state: object, total: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    calls = state.calls  # type: ignore[attr-defined]
    while time.monotonic() < deadline:
        if len(calls.find("message/send")) >= total:
            return
        await asyncio.sleep(0.25)


def print_table(results: list[Result]) -> None:
    header = (
        f"{'run':<22} {'stored':>7} {'refused':>7} {'stored/s':>9} {'notified/s':>10} "
        f"{'notified':>8} {'p50':>8} {'p99':>8}"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.label:<22} {r.submitted:>7} {r.refused:>7} {r.stored_per_s:>9.1f} "
            f"{r.notified_per_s:>10.1f} {len(r.notified):>8} "
            f"{percentile(r.notified, 50):>7.3f}s {percentile(r.notified, 99):>7.3f}s"
        )
    print()
    throughput = next((r for r in results if r.label == "throughput"), None)
    for r in results:
        if r is throughput or throughput is None or not throughput.stored_per_s:
            continue
        rate = float(r.label.split()[0])
        print(
            f"{r.label}: submit → notified p99 {percentile(r.notified, 99):.3f}s; "
            f"that rate is {rate / throughput.stored_per_s:.0%} of the measured maximum "
            f"({throughput.stored_per_s:.0f} stored/s); "
            f"missing notices {r.submitted - len(r.notified)}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 s per run instead of 20 s")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rates", default="50")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    seconds = 5.0 if args.quick else 20.0
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="scrm-bench-leads-") as tmp:
        print("running throughput …", flush=True)
        results.append(asyncio.run(one_run("throughput", None, seconds, args.db, Path(tmp))))
        for rate in (int(r) for r in args.rates.split(",")):
            print(f"running {rate} submissions/s …", flush=True)
            label = f"{rate} submissions/s"
            results.append(asyncio.run(one_run(label, rate, seconds, args.db, Path(tmp))))
    print(
        f"\n{args.db}; {seconds:g} s per run; one process (sandbox, service, load); "
        f"{SUBMITTERS} submitters for throughput"
    )
    print_table(results)
    missing = sum(r.submitted - len(r.notified) + r.refused for r in results)
    return 0 if missing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
