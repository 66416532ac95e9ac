"""The finish at phone and desktop width: no sideways scrolling, a wrapping header, the styled 404."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from mv.models import Project

from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


def _no_sideways_scroll(page) -> None:
    overflow = page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          const wide = [...document.querySelectorAll('body *')]
            .filter(el => el.getBoundingClientRect().right > width + 1 && el.getClientRects().length)
            .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + '.' + el.className);
          return {scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 8)};
        }"""
    )
    assert overflow["scroll"] <= overflow["width"], overflow


def _header_fits(page) -> None:
    """Every item of the header is inside the viewport, on one line, and overlaps no other."""
    items = page.evaluate(
        """() => [...document.querySelectorAll('.topbar .brand, .topbar .badge, .topbar nav a, .topbar nav button')]
          .map(el => {
            const r = el.getBoundingClientRect(), cs = getComputedStyle(el);
            const line = parseFloat(cs.lineHeight) || parseFloat(cs.fontSize) * 1.5;
            const inner = r.height - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom)
              - parseFloat(cs.borderTopWidth) - parseFloat(cs.borderBottomWidth);
            return {text: el.textContent.trim(), x: r.x, y: r.y, width: r.width, height: r.height,
                    lines: Math.round(inner / line), rects: el.getClientRects().length};
          })"""
    )
    width = page.viewport_size["width"]
    assert len(items) >= 3, items
    for box in items:
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
        assert box["lines"] == 1 and box["rects"] == 1, box
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            overlap_x = a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            overlap_y = a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]
            assert not (overlap_x and overlap_y), (a, b)


@pytest.fixture
def finished_project(rendered_song_project) -> Project:
    return rendered_song_project(video_description="A band plays on a rooftop at dusk, city lights behind",
                                 character_description="a singer in a red jacket", flavor="mv1")


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["390", "1366"])
def test_every_page_fits_the_width_without_sideways_scrolling(logged_in, live_server, user, finished_project, size):
    page = logged_in
    user.is_staff = True  # the header then has its longest form: New project, Admin, Log out
    user.save(update_fields=["is_staff"])
    page.set_viewport_size(size)
    page.goto(f"{live_server.url}/quick-gen/{finished_project.pk}/")
    expect(page.locator("#full-video video")).to_be_visible(timeout=60000)
    pages = {"list": "/", "create": "/create/", "project": f"/quick-gen/{finished_project.pk}/",
             "404": f"/quick-gen/{uuid.uuid4()}/"}
    for name, url in pages.items():
        page.goto(f"{live_server.url}{url}")
        page.screenshot(path=str(ARTIFACTS / f"finish-{name}-{size['width']}.png"), full_page=True)
        _no_sideways_scroll(page)
        _header_fits(page)
    expect(page.locator(".topbar nav")).to_contain_text("Admin")
    page.goto(f"{live_server.url}/create/")
    page.locator("#section-config summary").click()
    _no_sideways_scroll(page)


def test_login_page_fits_a_phone(browser_page, live_server):
    page = browser_page
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/accounts/login/")
    page.screenshot(path=str(ARTIFACTS / "finish-login-390.png"), full_page=True)
    _no_sideways_scroll(page)


def test_unknown_project_is_the_styled_404_with_a_way_back(logged_in, live_server):
    page = logged_in
    response = page.goto(f"{live_server.url}/quick-gen/{uuid.uuid4()}/")
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("We can't find that project")
    expect(page.locator(".topbar .brand")).to_be_visible()
    page.get_by_role("link", name="Back to your projects").click()
    page.wait_for_url(f"{live_server.url}/")


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["390", "1366"])
def test_a_file_that_is_not_audio_gets_the_plain_message(logged_in, live_server, tmp_path, size):
    page = logged_in
    page.set_viewport_size(size)
    notes = tmp_path / "notes.mp3"
    notes.write_bytes(b"these are my notes, not a song\n" * 200)
    page.goto(f"{live_server.url}/create/")
    page.set_input_files("#id_file", str(notes))
    message = page.locator("#music-source .field-error")
    expect(message).to_have_text("This file isn't audio we can read — MP3, WAV, M4A, OGG or FLAC work.", timeout=20000)
    text = page.locator("main").inner_text()
    for technical in ("Errno", "Invalid data", "/tmp", "upload.mp3", "Traceback"):
        assert technical not in text
    expect(page.locator("#id_file")).to_be_visible()  # the picker is there to try another file
    page.screenshot(path=str(ARTIFACTS / f"create-not-audio-{size['width']}.png"), full_page=True)
    _no_sideways_scroll(page)


def test_keyboard_focus_is_visible(logged_in, live_server):
    """Tabbing through the create page: every stop (links, radios, summary, file picker,
    fields, buttons) draws an outline."""
    page = logged_in
    page.goto(f"{live_server.url}/create/")
    seen = set()
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement === document.body"):
            break  # past the last stop
        focus = page.evaluate(
            """() => { const el = document.activeElement, cs = getComputedStyle(el);
                 return {tag: el.tagName + (el.type ? ':' + el.type : ''), style: cs.outlineStyle,
                         width: parseFloat(cs.outlineWidth)}; }"""
        )
        seen.add(focus["tag"])
        assert focus["style"] != "none" and focus["width"] >= 2, focus
    assert {"A", "INPUT:radio", "SUMMARY", "INPUT:file"} <= seen, seen
