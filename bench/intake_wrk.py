"""Saturation with wrk (C, one thread on the load core), when it is installed.

The Lua script cycles through pre-generated signed callbacks, one per request. wrk stops at
its deadline with requests still in flight and never reads their answers, so it is used only
where nothing is stored (servers a and b): there the count check needs no exact tally.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.intake_load import SignedCallback
from bench.intake_procs import LOAD_CORE, pinned

_SCRIPT = r"""
local requests = {}
local next_index = 0

function init(args)
  for line in io.lines(args[1]) do
    local path, body = line:match("^([^\t]*)\t(.*)$")
    requests[#requests + 1] = wrk.format("POST", path, {["Content-Type"] = "text/xml"}, body)
  end
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKRESULT requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d " ..
    "p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""
_RESULT = re.compile(r"WRKRESULT (.*)")


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int  # connect, read, write errors and timeouts
    p50_ms: float
    p99_ms: float

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors

    @property
    def rate(self) -> float:
        """Successful answers per second."""
        return (self.requests - self.non_2xx) / self.seconds if self.seconds else 0.0


def available() -> bool:
    return shutil.which("wrk") is not None


def saturate(
    port: int,
    callbacks: list[SignedCallback],
    workdir: Path,
    *,
    connections: int,
    duration: float,
) -> WrkResult:
    """Run ``wrk -t1`` on the load core for ``duration`` seconds and parse its summary."""
    data = workdir / "wrk-requests.tsv"
    data.write_text("".join(f"{cb.path}\t{cb.body.decode('ascii')}\n" for cb in callbacks))
    script = workdir / "wrk-intake.lua"
    script.write_text(_SCRIPT)
    wrk = shutil.which("wrk") or "wrk"
    argv = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
        "--",
        str(data),
    ]
    done = subprocess.run(
        pinned(argv, LOAD_CORE), capture_output=True, text=True, timeout=duration + 60, check=False
    )
    match = _RESULT.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    values = dict(pair.split("=") for pair in match.group(1).split())
    socket_errors = sum(int(values[key]) for key in ("connect", "read", "write", "timeout"))
    return WrkResult(
        requests=int(values["requests"]),
        seconds=int(values["duration_us"]) / 1e6,
        non_2xx=int(values["status"]),
        socket_errors=socket_errors,
        p50_ms=int(values["p50_us"]) / 1e3,
        p99_ms=int(values["p99_us"]) / 1e3,
    )
