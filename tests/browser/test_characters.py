"""The character bank in a real browser: a saved character picked on the create page, on a
laptop and on a phone."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from mv.models import Project
from mv.pipeline import characters
from tests.fakes.media import fake_image

from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [1366, 390])
def test_a_saved_character_is_picked_on_the_create_page(logged_in, live_server, user, tmp_path, width):
    page = logged_in
    page.set_viewport_size({"width": width, "height": 900})
    upload = SimpleUploadedFile("red.png", fake_image(tmp_path, "png"), "image/png")
    red = characters.save_character(user, name="Red", description="a drummer in a red jacket", upload=upload)
    page.goto(f"{live_server.url}/create/")
    select = page.get_by_label("Or cast a saved character")
    select.scroll_into_view_if_needed()
    expect(select).to_be_visible()
    box = select.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width  # fits the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    select.select_option(label="Red")
    page.fill("#id_video_description", "A rooftop gig at dusk")
    page.screenshot(path=str(ARTIFACTS / f"create-character-{width}.png"), full_page=True)
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url(f"{live_server.url}/quick-gen/**")
    project = Project.objects.get()
    assert project.character == red and project.character_image == red.image
    expect(page.locator("#project-character-select")).to_have_value(str(red.pk))
    expect(page.locator("#project-character")).to_contain_text("a drummer in a red jacket")
    expect(page.locator("#full-video video")).to_be_visible(timeout=60000)  # the automatic run is over
    cards = page.locator(".scene-card").count()
    expect(page.locator(".scene-card img.start-frame")).to_have_count(cards)  # each card's frame, swapped in when made
    page.screenshot(path=str(ARTIFACTS / f"studio-character-{width}.png"), full_page=True)
    # No picture was asked for before it existed. (htmx logs the asks a newer one replaced, hx-sync.)
    assert not [e for e in page.console_errors if "htmx:afterRequest" not in e and "htmx:sendAbort" not in e]


@pytest.mark.parametrize("width", [1366, 390])
def test_the_characters_page_picks_a_picture_and_fits_the_screen(logged_in, live_server, user, tmp_path, width):
    page = logged_in
    page.set_viewport_size({"width": width, "height": 900})
    first = SimpleUploadedFile("red.png", fake_image(tmp_path, "png"), "image/png")
    red = characters.save_character(user, name="Red", description="a drummer in a red jacket", upload=first)
    second = characters.add_picture(red, SimpleUploadedFile("red2.jpg", fake_image(tmp_path, "jpg"), "image/jpeg"))
    page.goto(f"{live_server.url}/characters/")
    expect(page.locator(".character-name")).to_have_text("Red")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.get_by_role("button", name="Use this one").click()
    expect(page.locator(".image-option.chosen img")).to_have_attribute("alt", "Picture 2 of Red")
    red.refresh_from_db()
    assert red.image == second
    page.screenshot(path=str(ARTIFACTS / f"characters-{width}.png"), full_page=True)
    assert not page.console_errors
