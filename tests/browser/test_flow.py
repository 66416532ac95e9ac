"""The whole flow in a real browser, on the local provider."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from mv.models import Clip, Project
from mv.pipeline import projects

from .conftest import ARTIFACTS, WorkerThreadBackend

pytestmark = pytest.mark.browser


def test_create_to_full_video_with_lipsync_and_restitch(logged_in, live_server, song_mp3):
    page = logged_in
    page.goto(f"{live_server.url}/create/")
    headings = page.locator("form h2").all_inner_texts()
    assert headings == ["Generation Mode", "Configuration", "Music Source", "Video Description", "Character & Style"]
    config = page.locator("#section-config")
    expect(page.locator("#id_config_flavor")).to_be_hidden()
    config.locator("summary").click()
    expect(page.locator("#id_config_flavor")).to_be_visible()
    assert page.locator("#id_config_flavor").input_value() == "default"
    page.select_option("#id_config_flavor", "mv1")
    page.fill("#id_number_of_scenes", "2")
    with WorkerThreadBackend.held(), page.expect_response(re.compile(r"/create/audio/upload/$")) as upload:
        page.set_input_files("#id_file", str(song_mp3))
    assert 'badge-busy">Importing…' in upload.value.text()  # the answer came before the import (the worker
    # is held meanwhile; the answer is read itself: once released, a fast import may be polled past it)
    expect(page.locator("#music-source .song-analysis")).to_contain_text("section", timeout=60000)  # imported, analysed
    # The part of the song: a click on the waveform sets the start, a shift-click the end.
    waveform = page.locator(".waveform-pick")
    width = waveform.bounding_box()["width"]
    waveform.click(position={"x": width * 0.25, "y": 10})
    expect(page.locator("#id_audio_start")).to_have_value("10.0")
    waveform.click(position={"x": width * 0.5, "y": 10}, modifiers=["Shift"])
    expect(page.locator("#id_song_end")).to_have_value("20.0")
    expect(page.locator(".song-range-mark")).to_have_attribute("x", "25%")  # the chosen part, highlighted
    page.fill("#id_audio_start", "0")
    expect(page.locator("#create-estimate")).to_contain_text("Choose at least 3 scenes", timeout=10000)  # 0–20 s in 2 scenes
    page.fill("#id_song_end", "16")  # two scenes of 8 s
    expect(page.locator(".song-range-mark")).to_have_attribute("width", "40%")
    expect(page.locator("#create-estimate")).to_contain_text("local preview: free", timeout=10000)
    page.fill("#id_video_description", "A band plays on a rooftop at dusk")
    page.screenshot(path=str(ARTIFACTS / "create-page.png"), full_page=True)
    page.click("button:has-text('Create project')")

    page.wait_for_url(re.compile(r"/quick-gen/"))
    project = Project.objects.get()
    assert project.config_flavor == "mv1"
    expect(page.locator("#input-flavor")).to_have_text("mv1")
    expect(page.locator(".scene-card")).to_have_count(2, timeout=20000)
    page.screenshot(path=str(ARTIFACTS / "quick-gen-rendering.png"), full_page=True)
    expect(page.locator("#full-video video")).to_be_visible(timeout=60000)
    expect(page.locator(".clip-section .badge-ok")).to_have_count(2)  # each card from its own poll
    expect(page.locator("#counts")).to_contain_text("2 ready")  # asked again after each finish
    expect(page.locator("#waveform .tl-cut")).to_have_count(2)  # boundaries at 8 s and 16 s
    expect(page.locator("#timeline .tl-thumb")).to_have_count(2)
    full_y = page.locator("#full-video").bounding_box()["y"]
    assert full_y < page.locator("#timeline").bounding_box()["y"] < page.locator("#scenes").bounding_box()["y"]
    assert page.locator("#project-panel").get_attribute("open") is not None  # open: song and flavor in view
    expect(page.locator("#quick-config-flavor")).to_be_visible()
    expect(page.locator("#project-panel audio")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "quick-gen-page.png"), full_page=True)

    # Changing the flavor is saved and used by the next call.
    page.select_option("#quick-config-flavor", "default")
    expect(page.locator("#input-flavor")).to_have_text("default")
    project.refresh_from_db()
    assert project.config_flavor == "default"

    # The lipsync checkbox changes the button and the request; the new clip is stitched.
    # Meanwhile scene 1's player is never re-rendered (a playing video keeps playing).
    first_scene = project.scenes.get(position=0)
    first_player = page.locator(f"#clip-{first_scene.pk} video").element_handle()
    scene = project.scenes.get(position=1)
    old_clip = scene.current_clip_id
    card = page.locator(f"#clip-{scene.pk}")
    button = card.locator(".regen-button")
    expect(button).to_have_text("Regenerate · free")  # the local renderer: each button says its price
    card.locator(".lipsync-toggle").focus()  # with the keyboard: Space ticks, Tab reaches the button
    page.keyboard.press("Space")
    expect(button).to_have_text("Regenerate with lipsync · free")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('regen-button')")
    page.keyboard.press("Enter")
    expect(card.locator(".clip-id")).not_to_have_text(str(old_clip), timeout=30000)
    scene.refresh_from_db()
    assert scene.current_clip.kind == "lipsync" and scene.current_clip.config_flavor == "default"
    expect(card.locator(".clip-id")).to_have_text(str(scene.current_clip_id))  # textContent: inside a closed <details>
    expect(page.locator("#stitch-id")).to_have_text(str(scene.current_clip.followup_stitch_id), timeout=30000)
    assert first_player.evaluate("el => el.isConnected")

    # Re-stitch button, then reload: nothing is generated again.
    expect(page.locator("#full-video video")).to_be_visible(timeout=30000)  # the follow-up stitch is done
    stitches = project.stitches.count()
    previous = page.locator("#stitch-id").text_content()
    page.click("button:has-text('Re-stitch with current clips')")
    expect(page.locator("#stitch-id")).not_to_have_text(previous, timeout=30000)
    expect(page.locator("#full-video video")).to_be_visible(timeout=30000)
    assert project.stitches.count() == stitches + 1
    assert page.locator("#stitch-id").text_content() == str(project.stitches.order_by("-created_at").first().pk)

    # A plain regenerate re-stitches nothing, so the full video's player stays as it is.
    full_player = page.locator("#full-video-player").element_handle()
    shown_stitch = page.locator("#stitch-id").text_content()
    first_card = page.locator(f"#clip-{first_scene.pk}")
    old_first = first_card.locator(".clip-id").text_content()
    page.fill(f"#desc-{first_scene.pk}", "An unsaved edit: the drummer in close-up")  # not saved: Regenerate takes it
    first_card.locator(".regen-button").click()
    expect(first_card.locator(".clip-id")).not_to_have_text(old_first, timeout=30000)
    first_scene.refresh_from_db()
    assert first_scene.current_clip.prompt.startswith("An unsaved edit: the drummer in close-up")
    expect(page.locator(".clip-section .badge-ok")).to_have_count(2)  # each card from its own poll
    assert full_player.evaluate("el => el.isConnected")
    assert page.locator("#stitch-id").text_content() == shown_stitch
    clips = Clip.objects.count()
    page.reload()
    expect(page.locator(".scene-card")).to_have_count(2)
    assert Clip.objects.count() == clips
    page.screenshot(path=str(ARTIFACTS / "quick-gen-after-lipsync.png"), full_page=True)
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_project_list_links_projects_and_create(logged_in, live_server, user):
    from mv import flavors

    project = projects.create_project(owner=user, video_description="Neon skyline, slow dolly", number_of_scenes=2,
                                      flavor=flavors.resolve("mv1"))
    page = logged_in
    page.goto(f"{live_server.url}/")
    expect(page.locator("a:has-text('New project')").first).to_be_visible()
    projects.start_project(project)  # as the create form's submit does
    page.goto(f"{live_server.url}/quick-gen/{project.pk}/")
    expect(page.locator(".clip-section .badge-ok")).to_have_count(2, timeout=30000)
    page.goto(f"{live_server.url}/")
    expect(page.locator(".project-list li")).to_contain_text("2/2 clips ready")
    expect(page.locator(".project-cover img")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "project-list.png"), full_page=True)
    page.click("a.project-title")
    page.wait_for_url(f"{live_server.url}/quick-gen/{project.pk}/")


def test_the_create_page_works_with_the_keyboard(logged_in, live_server):
    page = logged_in
    page.goto(f"{live_server.url}/create/")
    summary = page.locator("#section-config summary")
    summary.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#id_config_flavor")).to_be_visible()
    page.locator("#id_config_flavor").focus()
    page.keyboard.press("ArrowDown")
    assert page.locator("#id_config_flavor").input_value() == "mv1"
    for label in page.locator("form label[for]").all():
        target = label.get_attribute("for")
        assert page.locator(f"[id='{target}']").count() == 1, target
    page.locator("#id_video_description").focus()
    page.keyboard.type("Typed with the keyboard")
    assert page.locator("#id_video_description").input_value() == "Typed with the keyboard"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_character_description"
