"""Shared bits: Django set-up in a scratch folder, timing, the results table."""

from __future__ import annotations

import atexit
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = Path(tempfile.mkdtemp(prefix="mv-bench-"))
if not os.environ.get("BENCH_KEEP"):  # BENCH_KEEP=1 keeps the outputs for a look
    atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20) -> None:
    """Wait until a server we started answers on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port}")


def setup_django(**env: str) -> None:
    """Configure Django on a scratch SQLite file and media folder (never the dev data)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mvsite.settings")
    os.environ.setdefault("MV_SQLITE_PATH", str(SCRATCH / "bench.sqlite3"))
    os.environ.setdefault("MEDIA_ROOT", str(SCRATCH / "media"))
    os.environ.setdefault("MV_MANIFEST_STATIC", "false")
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def load_now() -> str:
    """The machine's 1-minute load average and core count, printed on every row: a number
    measured on a busy machine says so."""
    return f"{os.getloadavg()[0]:.1f}/{os.cpu_count()}"


@dataclass
class Row:
    bench: str
    what: str
    value: str
    baseline: str
    ratio: str
    bar: str
    ok: bool | None
    load: str = field(default_factory=load_now)  # when the row was measured


def timed(fn: Callable[[], object], repeat: int = 3) -> float:
    """Median wall time of `repeat` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed_together(fns: dict[str, Callable[[], object]], rounds: int = 7) -> dict[str, float]:
    """Median wall time of each, run in turn within every round, so a change in the
    machine's load falls on all of them alike (the ratios between them are side by side)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from mv import media

    version = subprocess.run([media.ffmpeg_exe(), "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    version = version.split(" Copyright")[0]
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    date = time.strftime("%Y-%m-%d %H:%M %Z")
    return (f"nproc {nproc}, {cpu}, Python {platform.python_version()}, {version}, run ending {date}, "
            f"load average (1/5/15 min) {load}")


def verdict(row: Row) -> str:
    """PASS / MISS against the row's bar; "-" for a row with no bar (context only)."""
    return "-" if row.ok is None else ("PASS" if row.ok else "MISS")


def print_table(rows: list[Row]) -> None:
    headers = ("bench", "measured", "value", "baseline", "ratio", "bar", "result", "load/cores")
    table = [headers] + [(r.bench, r.what, r.value, r.baseline, r.ratio, r.bar, verdict(r), r.load) for r in rows]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(headers))]
    for n, line in enumerate(table):
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
