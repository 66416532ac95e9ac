"""A director style chosen on the create page and your own clip uploaded into a scene, in a real
browser at laptop (1366 px) and phone (390 px) widths. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from mv.models import Clip, Project

from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def no_sideways_scroll(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("width", [1366, 390])
def test_a_director_style_is_chosen_on_the_create_page_and_shown_on_the_project(logged_in, live_server, width):
    page = logged_in
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/create/")
    page.locator("#section-config summary").click()
    style = page.locator("#id_director_style")
    expect(style).to_be_visible()
    style.select_option("neon-noir")
    page.screenshot(path=str(ARTIFACTS / f"create-director-style-{width}.png"), full_page=True)
    no_sideways_scroll(page, width)
    page.fill("#id_video_description", "A night drive through the rain")
    page.click("button:has-text('Create project')")
    page.wait_for_url(re.compile(r"/quick-gen/"))
    project = Project.objects.get()
    assert project.director_style == "neon-noir"
    expect(page.locator("#quick-director-style")).to_have_value("neon-noir")
    page.locator("#quick-director-style").select_option("dreamy-16mm")
    expect(page.locator("#config-card .help").last).to_contain_text("16 mm", timeout=10000)
    project.refresh_from_db()
    assert project.director_style == "dreamy-16mm"
    expect(page.locator("#full-video video")).to_be_visible(timeout=60000)  # the page as the run leaves it
    no_sideways_scroll(page, width)


@pytest.mark.parametrize("width", [1366, 390])
def test_my_own_clip_replaces_a_scenes_clip_and_says_how_it_was_fitted(logged_in, live_server, rendered_song_project,
                                                                       media_dir, width):
    from tests.conftest import make_clip

    own = make_clip(media_dir / "browser-own-3s.mp4", seconds=3.0, size="320x240", rate=30)
    project = rendered_song_project()
    page = logged_in
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/quick-gen/{project.pk}/")
    card = page.locator(".scene-card").first
    before = card.locator(".clip-section video").get_attribute("src")
    card.locator(".own-clip summary").click()
    card.locator(".own-clip input[type=file]").set_input_files(str(own))
    card.locator("button:has-text('Use this clip')").click()
    expect(card.locator(".fit-note")).to_contain_text("last frame is held", timeout=60000)
    assert card.locator(".clip-section video").get_attribute("src") != before
    card.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"studio-own-clip-{width}.png"), full_page=True)
    no_sideways_scroll(page, width)
    clip = Clip.objects.get(kind=Clip.Kind.UPLOADED)
    assert clip.status == "succeeded" and clip.scene.current_clip_id == clip.pk
