"""The defaults a newcomer meets: a fresh copy of the project runs its documented commands with
no environment set, DEBUG off and a secret key it made once and keeps; an unknown page is the
styled 404, never Django's debug page."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("manage.py", "mv", "mvsite", "configs", "templates", "static")


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> Path:
    """The project's files as a clone has them (no key, no database, no collected static files)."""
    clone = tmp_path_factory.mktemp("clone")
    for name in SHIPPED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, clone / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, clone / name)
    return clone


def run(clone: Path, *args: str, code: str | None = None, **env: str) -> subprocess.CompletedProcess:
    """manage.py in the clone with no environment but PATH (what a new shell has of ours);
    `code`: Python run by `manage.py shell -c`."""
    argv = [sys.executable, "manage.py", *(("shell", "-v0", "-c", code) if code else args)]
    return subprocess.run(argv, cwd=clone, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True,
                          timeout=300)


def test_check_and_mv_flavors_work_on_a_fresh_clone_with_no_environment(fresh_clone):
    check = run(fresh_clone, "check")
    assert check.returncode == 0, check.stderr[-2000:]
    assert "System check identified no issues" in check.stdout
    flavors = run(fresh_clone, "mv_flavors")
    assert flavors.returncode == 0, flavors.stderr[-2000:]
    assert "default" in flavors.stdout and "mv1" in flavors.stdout


def test_the_secret_key_is_made_once_kept_private_and_an_environment_key_wins(fresh_clone):
    show = "from django.conf import settings; print(settings.SECRET_KEY, settings.DEBUG)"
    first, second = run(fresh_clone, code=show), run(fresh_clone, code=show)
    assert first.returncode == 0, first.stderr[-2000:]
    key, debug = first.stdout.split()
    assert len(key) >= 50 and debug == "False" and second.stdout == first.stdout
    kept = fresh_clone / ".secret_key"
    assert kept.read_text().strip() == key and kept.stat().st_mode & 0o077 == 0
    given = run(fresh_clone, code=show, SECRET_KEY="k" * 50)
    assert given.stdout.split() == ["k" * 50, "False"]
    ignored = subprocess.run(["git", "check-ignore", "-q", ".secret_key"], cwd=ROOT)
    assert ignored.returncode == 0  # never committed


def test_an_unknown_page_under_the_default_settings_is_the_styled_404(fresh_clone):
    for command in (("migrate", "--noinput", "-v0"), ("collectstatic", "--noinput", "-v0")):
        done = run(fresh_clone, *command)
        assert done.returncode == 0, done.stderr[-2000:]
    page = run(fresh_clone, code=(
        "import re; from django.test import Client; client = Client(); r = client.get('/no/such/page/'); "
        "css = re.search(r'href=\"(/static/mv/app[.][0-9a-f]+[.]css)\"', r.content.decode()).group(1); "
        "print(r.status_code, client.get(css).status_code); print(r.content.decode())"))
    assert page.returncode == 0, page.stderr[-2000:]
    status, _, html = page.stdout.partition("\n")
    assert status == "404 200"  # the styled page, and its stylesheet served by its hashed name (whitenoise)
    assert "Page not found" in html and "Back to your projects" in html and 'href="/static/mv/app.' in html
    assert "URLconf" not in html and "Using the URLconf" not in html  # not Django's debug page


def test_make_video_as_the_readme_shows_works_on_a_fresh_clone_and_prints_only_its_progress(fresh_clone, song_mp3,
                                                                                           tmp_path):
    out = tmp_path / "final.mp4"
    made = run(fresh_clone, "make_video", "--audio", str(song_mp3), "--idea", "a fox crossing a snowy city",
               "--scenes", "2", "--to", "12", "--out", str(out))
    assert made.returncode == 0, made.stderr[-2000:]
    assert out.stat().st_size > 0 and "wrote " in made.stdout + made.stderr
    assert "INFO" not in made.stderr and "frames shown before" not in made.stderr and "Traceback" not in made.stderr
