"""Load at a stated arrival rate against the production server (gunicorn 3 x 4), beside one
client alone (from at least BASELINE_REQUESTS requests). Loopback only.

Open loop: request i is sent at start + i / RATE whether or not earlier ones were answered,
and its latency counts from that moment, so a server that falls behind shows it (a closed
loop of clients that wait for each answer would slow down with the server and hide it).
One request in five is a page view (the quick-gen page), four are status polls."""

from __future__ import annotations

import http.client
import os
import statistics
import subprocess
import sys
import threading
import time

from bench.common import ROOT, Row, free_port, wait_port

CLIENTS = 50
THINK = 0.5  # seconds between a client's requests in the warm-up and control
RATE = 100.0  # requests per second: 20 page views + 80 status polls
BASELINE_REQUESTS = 300


class _Client:
    """One keep-alive connection (http.client: about a tenth of the CPU of requests per
    request, which the server would otherwise lose on these same cores). Redirects are not
    followed: a login redirect, an error page or any other body counts as an error."""

    def __init__(self, base: str, cookie: str) -> None:
        self.host, port = base.removeprefix("http://").split(":")
        self.port, self.cookie, self.conn = int(port), cookie, None

    def get(self, url: str, marker: str) -> bool:
        # A kept-alive connection the server closed while idle (gunicorn's keep-alive is 2 s)
        # is opened again once, as browsers do; any other failure is an error.
        for fresh in ((False, True) if self.conn is not None else (True,)):
            if fresh:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            try:
                self.conn.request("GET", url, headers={"Cookie": f"sessionid={self.cookie}"})
                response = self.conn.getresponse()
                body = response.read()
                return response.status in (200, 286) and marker.encode() in body
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()
                if fresh:
                    return False
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                return False
        return False


def _drive(base: str, cookie: str, urls: list[tuple[str, str]], clients: int,
           seconds: float) -> tuple[list[float], int]:
    """Closed loop (warm-up and control): each client asks, waits for the answer, thinks."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        session = _Client(base, cookie)
        i = n
        while time.monotonic() < stop:
            url, marker = urls[i % len(urls)]
            i += 1
            start = time.perf_counter()
            ok = session.get(url, marker)
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                errors[0] += 0 if ok else 1
            time.sleep(THINK)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors[0]


def _open_loop(base: str, cookie: str, urls: list[tuple[str, str]], rate: float,
               seconds: float) -> tuple[list[float], int]:
    """Send at a fixed arrival rate; latency from each request's scheduled time."""
    import concurrent.futures

    local = threading.local()

    def one(url: str, marker: str, due: float) -> tuple[float, bool]:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = _Client(base, cookie)
        ok = session.get(url, marker)
        return time.perf_counter() - due, ok

    futures = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=64) as pool:
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            due = start + i / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            url, marker = urls[i % len(urls)]
            futures.append(pool.submit(one, url, marker, due))
    results = [f.result() for f in futures]
    return [r[0] for r in results], sum(1 for r in results if not r[1])


def _one_client(base: str, cookie: str, urls: list[tuple[str, str]], count: int) -> tuple[list[float], int]:
    session = _Client(base, cookie)
    latencies, errors = [], 0
    for i in range(count):
        url, marker = urls[i % len(urls)]
        start = time.perf_counter()
        ok = session.get(url, marker)
        latencies.append(time.perf_counter() - start)
        errors += 0 if ok else 1
    return latencies, errors


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


def run(args) -> list[Row]:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from bench.pages import build
    from mv.models import Clip, JobStatus

    user, _ = get_user_model().objects.get_or_create(username="bench-load")
    project = build(user, 8)
    scenes = list(project.scenes.all())
    for scene in scenes[:4]:
        Clip.objects.create(owner=user, scene=scene, status=JobStatus.RUNNING, prompt="p", progress=50)
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    # The page must be this project's quick-gen page (its scene list), a poll this scene's
    # status partial for the clip that is rendering; a login page has neither.
    page = (f"/quick-gen/{project.pk}/", f'id="scene-{scenes[0].pk}"')
    polls = [(f"/scenes/{s.pk}/clip/status/", f'id="clip-status-{s.pk}"') for s in scenes[:4]]
    urls = [page] + polls  # one page view in five requests
    for url, marker in urls[:5]:  # the markers are right for these pages before any timing
        response = client.get(url)
        assert response.status_code in (200, 286) and marker in response.content.decode(), (url, response.status_code)

    port = free_port()
    env = {**os.environ, "MV_SQLITE_PATH": str(settings.DATABASES["default"]["NAME"]),
           "MEDIA_ROOT": str(settings.MEDIA_ROOT), "MV_MANIFEST_STATIC": "false", "DEBUG": "false",
           "SECRET_KEY": settings.SECRET_KEY}  # the key our session cookie is signed with (with DEBUG off it is required)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "mvsite.wsgi", "-b", f"127.0.0.1:{port}", "-w", "3",
                               "--threads", "4", "--log-level", "warning"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        base = f"http://127.0.0.1:{port}"
        seconds = 10 if args.quick else 30
        _, warm_errors = _drive(base, cookie, urls, 12, 3)  # warm every gunicorn worker (imports, templates, connections)
        # Control: without a valid session every request must count as an error (login redirect).
        control, control_errors = _drive(base, "not-a-session", urls, 1, 1.5)
        alone, alone_errors = _one_client(base, cookie, urls, BASELINE_REQUESTS)
        before = os.getloadavg()[0]
        loaded, errors = _open_loop(base, cookie, urls, RATE, seconds)
        after = os.getloadavg()[0]
    finally:
        server.terminate()
        server.wait(10)
    views = RATE / len(urls)
    return [Row("load", f"{RATE:g} req/s for {seconds} s ({views:g} page views + {RATE - views:g} polls /s), "
                f"gunicorn 3x4, load {before:.1f}->{after:.1f}",
                f"p95 {p95(loaded) * 1000:.0f} ms, {len(loaded)} requests, {errors} errors",
                f"1 client, {len(alone)} requests: p95 {p95(alone) * 1000:.0f} ms, "
                f"{alone_errors} errors (warm-up: {warm_errors}; no session: {control_errors}/{len(control)} errors)",
                f"{p95(loaded) / p95(alone):.1f}x", "0 errors, p95 <= 150 ms",
                errors == 0 and alone_errors == 0 and p95(loaded) <= 0.150
                and 0 < control_errors == len(control))]
