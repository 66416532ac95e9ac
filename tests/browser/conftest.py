"""Browser tests: Playwright drives Debian's headless Chromium against a live server.

Tasks run on a background thread (one at a time, like `manage.py mv_worker`), so pages
really show progress while clips render.
"""

from __future__ import annotations

import contextlib
import queue
import re
import shutil
import threading
import time
from pathlib import Path

import pytest
from django.db import connections
from django.tasks.backends.immediate import ImmediateBackend

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


class WorkerThreadBackend(ImmediateBackend):
    """Runs each task after the request, on one worker thread."""

    _queue: queue.Queue = queue.Queue()
    _thread: threading.Thread | None = None
    _go = threading.Event()
    _go.set()

    @classmethod
    @contextlib.contextmanager
    def held(cls):
        """Tasks wait while this is held, so a test sees a state the worker would otherwise
        race past (the upload's answer before the import, Create pressed while it imports)."""
        cls._go.clear()
        try:
            yield
        finally:
            cls._go.set()

    def _execute_task(self, task_result) -> None:
        cls = type(self)
        if cls._thread is None or not cls._thread.is_alive():
            cls._thread = threading.Thread(target=cls._run, args=(self,), daemon=True)
            cls._thread.start()
        cls._queue.put(task_result)

    @classmethod
    def _run(cls, backend) -> None:
        while True:
            task_result = cls._queue.get()
            time.sleep(0.3)  # a slower renderer, so the pages' progress states are seen
            cls._go.wait()
            try:
                ImmediateBackend._execute_task(backend, task_result)
            finally:
                connections.close_all()
                cls._queue.task_done()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("Debian's chromium is not installed (make test installs it with apt-get as root)")
    return path


def _functions_only(wait_for_function):
    """Playwright checks a plain expression once from outside the page, then again inside it
    with eval, which our pages' CSP forbids: such a wait passes when the answer is already true
    and fails when it is not yet. Refuse expressions every time, so the mistake cannot hide."""

    def wait(page, expression: str, *args, **kwargs):
        if not _FUNCTION.match(expression):
            raise AssertionError(f"wait_for_function needs a function (\"() => ...\"), not {expression!r}")
        return wait_for_function(page, expression, *args, **kwargs)

    return wait


_FUNCTION = re.compile(r"\s*(async\s+)?(\(.*?\)|\w+)\s*=>|\s*(async\s+)?function\b", re.S)


@pytest.fixture(scope="package")
def _chromium(chromium_path):
    """One Chromium for the browser tests; each test gets a context of its own (a fresh profile:
    no cookies or storage carried over). While Playwright's loop lives, Django sees an event loop
    in this thread: the ORM is used beside it on purpose."""
    from playwright.sync_api import Page, sync_playwright

    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        patch.setattr(Page, "wait_for_function", _functions_only(Page.wait_for_function))
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(_chromium, settings, live_server, transactional_db):
    settings.TASKS = {"default": {"BACKEND": "tests.browser.conftest.WorkerThreadBackend"}}
    settings.MV_PAGE_POLL_SECONDS = 0.25  # the pages see each step soon after the worker made it
    ARTIFACTS.mkdir(exist_ok=True)
    context = _chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda m: page.console_errors.append(m.text + " @ " + str(m.location)) if m.type == "error" else None)
    yield page
    WorkerThreadBackend._queue.join()
    context.close()


@pytest.fixture
def logged_in(browser_page, live_server, user):
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page


@pytest.fixture(scope="session")
def scene_clip(media_dir) -> Path:
    """An 8 s clip made once for the whole run: every scene of a rendered project shows it."""
    from tests.conftest import make_clip

    return make_clip(media_dir / "scene-8s.mp4", seconds=8.0)


@pytest.fixture(scope="session")
def full_video_file(media_dir) -> Path:
    """A 24 s video made once: the rendered projects' full video (three 8 s scenes)."""
    from tests.conftest import make_clip

    return make_clip(media_dir / "full-24s.mp4", seconds=24.0)


@pytest.fixture
def rendered_song_project(user, song_mp3, scene_clip, full_video_file):
    """Makes a project as its automatic run leaves it, from rows and the shared clip (no
    rendering to wait for): a 40 s song, three 8 s scenes from 0 s, a clip each, stitched."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from mv import audio
    from tests.factories import finished_clip, finished_stitch, written_project

    def make(song_end: float = 24.0, **fields):
        track = audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))
        WorkerThreadBackend._queue.join()  # imported and analysed: nothing runs beside the test
        fields.setdefault("video_description", "Rooftop concert at dusk")
        project = written_project(user, scenes=3, audio_track=track, song_end=song_end, autorun_started=True,
                                  auto_stitch_done=True, **fields)
        for scene in project.scenes.order_by("position"):
            finished_clip(scene, scene_clip)
        finished_stitch(project, full_video_file, duration=24.0)
        return project

    return make
