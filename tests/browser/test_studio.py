"""The studio page in a real browser at laptop (1366 px) and phone (390 px) widths: the result
first, the timeline, timeline edits with the video re-stitched, a 9:16 project, and the
project actions. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re

import pytest
from django.core.files.storage import default_storage
from playwright.sync_api import expect

from mv import media
from mv.models import Clip, JobStatus, Project, Stitch

from .conftest import ARTIFACTS, WorkerThreadBackend

pytestmark = pytest.mark.browser


def wait_for_new_full_video(page, project: Project, previous: str, clips: int) -> Stitch:
    expect(page.locator("#stitch-id")).not_to_have_text(previous, timeout=60000)
    expect(page.locator("#full-video video")).to_be_visible(timeout=60000)
    expect(page.locator("#video-stale")).to_have_count(0)
    stitch = project.stitches.order_by("-created_at").first()
    assert stitch.status == "succeeded" and stitch.num_clips == clips
    return stitch


def open_edit_menu(page, number: int):
    card = page.locator(".scene-card").nth(number - 1)
    card.locator(".scene-edit summary").click()
    return card


def thumb_lefts(page) -> list[float]:
    return [float(x.rstrip("%")) for x in page.locator("#timeline .tl-thumb").evaluate_all(
        "els => els.map(e => e.getAttribute('x'))")]


def assert_result_first(page) -> None:
    """The full video, then the timeline, then the cards, then the open input/config panel."""
    expect(page.locator("#full-video video")).to_be_visible(timeout=60000)
    ys = [page.locator(sel).bounding_box()["y"] for sel in ("#full-video", "#timeline", "#scenes", "#project-panel")]
    assert ys == sorted(ys)
    assert page.locator("#project-panel").get_attribute("open") is not None


def prompts(page) -> list[str]:
    return page.locator(".scene-card .prompt-box").evaluate_all("els => els.map(e => e.value)")


def test_result_first_timeline_and_edits_re_stitch_the_video(logged_in, live_server, rendered_song_project):
    page = logged_in
    page.set_viewport_size({"width": 1366, "height": 900})
    project = rendered_song_project()
    page.goto(f"{live_server.url}/quick-gen/{project.pk}/")
    assert_result_first(page)
    download = page.locator("#download")
    expect(download).to_have_attribute("download", "rooftop-concert-at-dusk.mp4")
    assert page.locator("#full-video-player").get_attribute("poster")
    # One thumbnail per scene at its time: 0, 8 and 16 s of a 40 s song.
    expect(page.locator("#timeline .tl-thumb")).to_have_count(3)
    assert thumb_lefts(page) == [0.0, 20.0, 40.0]
    boxes = [t.bounding_box() for t in page.locator("#timeline .tl-thumb").all()]
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]
    page.locator("#timeline .tl-thumb a").nth(2).click()
    expect(page).to_have_url(re.compile(rf"#scene-{project.scenes.get(position=2).pk}$"))
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "studio-1366.png"), full_page=True)

    # Split scene 1 at 4 s: a fourth thumbnail, the new half needs a clip (scene 1's 8 s clip still
    # covers its 4 s); one button renders it and re-stitches.
    shown = page.locator("#stitch-id").text_content()
    card = open_edit_menu(page, 1)
    card.locator("input[id^=split-]").fill("4")
    card.locator(".split-button").click()
    expect(page.locator("#timeline .tl-thumb")).to_have_count(4)
    assert thumb_lefts(page) == [0.0, 10.0, 20.0, 40.0]
    expect(page.locator("#video-stale")).to_be_visible()
    expect(page.locator("#bring-up-to-date")).to_contain_text("1 scene needs a new clip")
    page.screenshot(path=str(ARTIFACTS / "studio-after-split.png"), full_page=True)
    clips_before = set(Clip.objects.values_list("pk", flat=True))
    page.click("button:has-text('Bring the video up to date')")
    stitch = wait_for_new_full_video(page, project, shown, clips=4)
    assert clips_before <= set(Clip.objects.values_list("pk", flat=True))  # every earlier clip is kept
    assert abs(stitch.duration - 24.0) < 0.1

    # Delete scene 3 (confirmed): scene 2 takes its time (12 s: its 4 s clip no longer covers it);
    # bring up to date, re-stitched with 3 clips.
    page.reload()
    shown = page.locator("#stitch-id").text_content()
    page.once("dialog", lambda dialog: dialog.accept())
    card = open_edit_menu(page, 3)
    card.locator(".delete-scene").click()
    expect(page.locator(".scene-card")).to_have_count(3)
    expect(page.locator("#bring-up-to-date")).to_contain_text("1 scene needs a new clip")
    page.click("button:has-text('Bring the video up to date')")
    wait_for_new_full_video(page, project, shown, clips=3)
    assert [(s.start, s.end) for s in project.scenes.order_by("position")] == [(0, 4), (4, 16), (16, 24)]

    # Move scene 3's start to 12 s: both clips still cover their scenes (8 s, and 12 s with the
    # longest clip there is), so the video is re-stitched at once with the cut at 12 s.
    page.reload()
    shown = page.locator("#stitch-id").text_content()
    card = open_edit_menu(page, 3)
    card.locator("input[id^=start-]").fill("12")
    card.locator(".boundary-button").click()
    stitch = wait_for_new_full_video(page, project, shown, clips=3)
    expect(page.locator(".scene-card:has(.stale-note)")).to_have_count(0)
    assert [(s.start, s.end) for s in project.scenes.order_by("position")] == [(0, 4), (4, 12), (12, 24)]
    assert abs(stitch.duration - 24.0) < 0.1
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "studio-after-edits.png"), full_page=True)

    # At phone width: nothing scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "studio-390.png"), full_page=True)
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_re_stitch_pressed_at_a_persons_pace_while_a_video_stitches_is_not_lost(logged_in, live_server,
                                                                                rendered_song_project):
    """Press, a moment, release: while another stitch renders the section polls, and a poll
    that replaced it under the pointer would swallow the click (CI once lost one so)."""
    page = logged_in
    project = rendered_song_project()
    busy = Stitch.objects.create(owner=project.owner, project=project, status=JobStatus.QUEUED, num_clips=3)  # no worker takes it
    page.goto(f"{live_server.url}/quick-gen/{project.pk}/")
    expect(page.locator("#full-video")).to_contain_text("Stitching 3 clips")
    section = page.locator("#full-video").element_handle()
    box = page.locator("button:has-text('Re-stitch with current clips')").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(1000)  # the section polls four times meanwhile
    assert section.evaluate("el => el.isConnected")
    page.mouse.up()
    stitch = wait_for_new_full_video(page, project, str(busy.pk), clips=3)
    expect(page.locator("#stitch-id")).to_have_text(str(stitch.pk))


def test_the_edit_menu_floats_over_the_card_on_a_wide_screen_and_closes_outside_or_on_escape(
        logged_in, live_server, rendered_song_project):
    page = logged_in
    page.set_viewport_size({"width": 1366, "height": 900})
    project = rendered_song_project()
    page.goto(f"{live_server.url}/quick-gen/{project.pk}/")
    card = page.locator(".scene-card").nth(1)
    card.scroll_into_view_if_needed()

    def prompt_offset() -> float:
        return card.locator(".prompt-box").bounding_box()["y"] - card.bounding_box()["y"]

    closed = prompt_offset()
    card.locator(".scene-edit summary").click()
    expect(card.locator(".split-button")).to_be_visible()
    assert prompt_offset() == closed  # nothing in the card moved (no empty band beside the title)
    page.screenshot(path=str(ARTIFACTS / "studio-edit-menu-1366.png"))
    box = card.locator("input[id^=start-]").bounding_box()  # a selection dragged out of its input
    page.mouse.move(box["x"] + box["width"] - 4, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] - 200, box["y"] + 120)
    page.mouse.up()
    expect(card.locator(".split-button")).to_be_visible()  # keeps the menu open
    page.locator("h1").click()  # outside the menu
    expect(card.locator(".split-button")).to_be_hidden()
    card.locator(".scene-edit summary").click()
    card.locator("input[id^=split-]").focus()
    page.keyboard.press("Escape")
    expect(card.locator(".split-button")).to_be_hidden()
    assert page.evaluate("document.activeElement.matches('.scene-edit > summary')")


def test_a_menu_closed_while_its_edit_is_on_its_way_stays_closed_when_the_card_comes_back(
        logged_in, live_server, rendered_song_project):
    page = logged_in
    project = rendered_song_project()
    page.goto(f"{live_server.url}/quick-gen/{project.pk}/")
    card = page.locator(".scene-card").nth(1)
    held = []
    page.route(re.compile(r"/scenes/[^/]+/split/$"), lambda route: held.append(route))  # the answer waits until released
    page.evaluate("window.edits = 0; document.addEventListener('studio-edited', () => window.edits++)")
    card.locator(".scene-edit summary").click()
    card.locator(".split-button").click()
    for _ in range(600):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the split was never sent"
    page.keyboard.press("Escape")  # the person closes the menu meanwhile
    expect(card.locator(".split-button")).to_be_hidden()
    held[0].continue_()
    page.wait_for_function("() => window.edits > 0")
    expect(page.locator(".scene-card")).to_have_count(4)  # the split was made
    expect(page.locator(".scene-card").nth(1).locator(".split-button")).to_be_hidden()  # and the menu stayed closed
    assert page.evaluate("document.activeElement.matches('.scene-edit > summary')")


def test_reorder_and_duplicate_at_phone_width_re_stitch_the_video(logged_in, live_server, rendered_song_project):
    page = logged_in
    page.set_viewport_size({"width": 390, "height": 844})
    project = rendered_song_project(song_end=28.0)  # three 8 s scenes over the first 28 s of a 40 s song
    page.goto(f"{live_server.url}/quick-gen/{project.pk}/")
    assert_result_first(page)
    expect(page.locator("#timeline .tl-thumb")).to_have_count(3)
    assert thumb_lefts(page) == [0.0, 20.0, 40.0]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "studio-phone-390.png"), full_page=True)

    # Reorder: scene 3 one place earlier. Every scene keeps its length, so every clip still fits
    # and the video is re-stitched at once, in the new order.
    shown = page.locator("#stitch-id").text_content()
    open_edit_menu(page, 3).locator(".move-earlier").click()
    expect(page.locator(".scene-card").nth(1).locator(".prompt-box")).to_have_value("scene 3")
    assert prompts(page) == ["scene 1", "scene 3", "scene 2"]
    assert thumb_lefts(page) == [0.0, 20.0, 40.0]
    expect(page.locator("#bring-up-to-date")).to_have_count(0)
    stitch = wait_for_new_full_video(page, project, shown, clips=3)
    assert [c.pk for c in stitch.ordered_clips()] == \
        [s.current_clip_id for s in project.scenes.order_by("position")]
    assert [s.description for s in project.scenes.order_by("position")] == ["scene 1", "scene 3", "scene 2"]
    page.screenshot(path=str(ARTIFACTS / "studio-phone-after-reorder-390.png"), full_page=True)

    # Duplicate scene 1: its slot split in two, the copy (no clip yet) second: one scene needs a
    # clip; one button.
    shown = page.locator("#stitch-id").text_content()
    open_edit_menu(page, 1).locator(".duplicate-button").click()
    expect(page.locator("#timeline .tl-thumb")).to_have_count(4)
    assert prompts(page) == ["scene 1", "scene 1", "scene 3", "scene 2"]
    assert thumb_lefts(page) == [0.0, 10.0, 20.0, 40.0]
    expect(page.locator("#bring-up-to-date")).to_contain_text("1 scene needs a new clip")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.click("button:has-text('Bring the video up to date')")
    stitch = wait_for_new_full_video(page, project, shown, clips=4)
    assert [(s.start, s.end) for s in project.scenes.order_by("position")] == [(0, 4), (4, 8), (8, 16), (16, 24)]
    assert abs(stitch.duration - 24.0) < 0.1
    page.reload()
    assert_result_first(page)
    expect(page.locator("#bring-up-to-date")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "studio-phone-after-duplicate-390.png"), full_page=True)
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_a_9_16_project_gives_a_portrait_video(logged_in, live_server, song_mp3):
    page = logged_in
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/create/")
    page.locator("#section-config summary").click()
    page.select_option("#id_aspect_ratio", "9:16")
    page.fill("#id_number_of_scenes", "2")
    page.set_input_files("#id_file", str(song_mp3))
    expect(page.locator("#music-source .waveform-pick")).to_be_visible(timeout=30000)  # imported in the worker
    page.fill("#id_song_end", "16")
    page.fill("#id_video_description", "Dancer in a neon alley")
    page.click("button:has-text('Create project')")
    page.wait_for_url(re.compile(r"/quick-gen/"))
    player = page.locator("#full-video-player")
    expect(player).to_be_visible(timeout=60000)
    project = Project.objects.get()
    assert project.aspect_ratio == "9:16"
    page.wait_for_function("() => document.getElementById('full-video-player').videoWidth > 0")  # a function: the page's CSP forbids eval
    width, height = player.evaluate("v => [v.videoWidth, v.videoHeight]")
    assert height > width
    stitch = project.stitches.get()
    video = media.probe(default_storage.path(stitch.file.name)).video
    assert video.height > video.width
    box = player.bounding_box()
    assert box["height"] > box["width"] and page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "studio-portrait-390.png"), full_page=True)


def test_rename_duplicate_and_delete_from_the_list_and_the_page(logged_in, live_server, user):
    from tests.factories import written_project

    project = written_project(user, scenes=2, video_description="Neon skyline, slow dolly")
    page = logged_in
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/")
        page.screenshot(path=str(ARTIFACTS / f"project-list-{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    row = page.locator(".project-list li").first
    row.locator("summary:has-text('Rename')").click()
    row.locator("input[name=title]").fill("Skyline Night")
    row.locator("button:has-text('Save name')").click()
    expect(page.locator(".project-title")).to_have_text("Skyline Night")

    page.set_viewport_size({"width": 1366, "height": 900})
    page.locator(".project-list li").first.locator("button:has-text('Duplicate')").click()
    page.wait_for_url(re.compile(r"/quick-gen/"))
    expect(page.locator("h1")).to_have_text("Skyline Night (copy)")
    expect(page.locator(".scene-card")).to_have_count(2)
    copy = Project.objects.exclude(pk=project.pk).get()
    assert page.url.endswith(f"/quick-gen/{copy.pk}/")

    page.locator(".project-actions summary:has-text('Rename')").click()
    page.fill("#rename-title", "Skyline, take two")
    page.click("button:has-text('Save name')")
    expect(page.locator("h1")).to_have_text("Skyline, take two")
    page.click("a:has-text('Delete…')")
    expect(page.locator("#confirm-delete")).to_contain_text("Delete “Skyline, take two”?")
    page.screenshot(path=str(ARTIFACTS / "project-delete-confirm.png"), full_page=True)
    page.click("button:has-text('Delete for good')")
    page.wait_for_url(f"{live_server.url}/")
    expect(page.locator(".messages")).to_contain_text("Deleted “Skyline, take two”")
    expect(page.locator(".project-list li")).to_have_count(1)
    assert list(Project.objects.values_list("title", flat=True)) == ["Skyline Night"]


@pytest.fixture
def long_song_project(user, media_dir, full_video_file):
    """A finished 31-scene project over the first 186 s of a 200 s song (6 s scenes, 6 s clips)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from mv import audio
    from tests.factories import finished_clip, finished_stitch, written_project

    from tests.conftest import make_clip

    clip = media_dir / "scene-6s.mp4"
    if not clip.exists():
        make_clip(clip, seconds=6.0)
    song = media_dir / "song-200s.mp3"
    if not song.exists():
        media.run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=330:duration=200", "-c:a", "libmp3lame", song])
    track = audio.import_upload(user, SimpleUploadedFile("long.mp3", song.read_bytes()))
    WorkerThreadBackend._queue.join()  # imported and analysed: nothing runs beside the test
    project = written_project(user, scenes=31, audio_track=track, seconds=6.0, song_end=186.0,
                              video_description="A night drive through the city", autorun_started=True,
                              auto_stitch_done=True)
    for scene in project.scenes.order_by("position"):
        finished_clip(scene, clip, duration=6.0)
    finished_stitch(project, full_video_file, duration=186.0)
    return project


def edit_in_place(page, project: Project, number: int, action, shot: str) -> None:
    """Do one timeline edit on scene `number` with its card in the middle of the screen; the card
    (or, for a move, the scene) must stay where it was, with the focus in it."""
    scene = project.scenes.get(position=number - 1)
    card = page.locator(f"#scene-{scene.pk}")
    card.scroll_into_view_if_needed()
    page.evaluate("y => window.scrollBy(0, y)", card.bounding_box()["y"] - 200)
    top = card.bounding_box()["y"]
    page.evaluate("window.edits = window.edits || 0; document.addEventListener('studio-edited', () => window.edits++)")
    done = page.evaluate("window.edits")
    card.locator(".scene-edit summary").click()
    action(card)
    page.wait_for_function("n => window.edits > n", arg=done)
    box = page.locator(f"#scene-{scene.pk}").bounding_box()
    height = page.viewport_size["height"]
    assert abs(box["y"] - top) < 2 and 0 <= box["y"] < height, (top, box)  # where it was, in view
    assert page.evaluate("document.activeElement.closest('.scene-card') && document.activeElement.closest('.scene-card').id") \
        == f"scene-{scene.pk}"
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    page.screenshot(path=str(ARTIFACTS / shot))


def test_editing_a_31_scene_project_keeps_the_edited_card_in_view_at_1366_and_390(logged_in, live_server,
                                                                                 long_song_project):
    page, project = logged_in, long_song_project
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/quick-gen/{project.pk}/")
    expect(page.locator(".scene-card")).to_have_count(31)
    expect(page.locator(".stale-note")).to_have_count(0)  # a fresh project: every clip covers its scene
    expect(page.locator("#bring-up-to-date")).to_have_count(0)

    def move_start(card):
        card.locator("input[id^=start-]").fill("113")
        card.locator(".boundary-button").click()

    edit_in_place(page, project, 20, move_start, "studio-31-move-start-1366.png")
    expect(page.locator("#video-stale")).to_be_visible()  # the cut in the full video is still at 114 s
    expect(page.locator("#bring-up-to-date")).to_contain_text("1 scene needs a new clip")  # 7 s, a 6 s clip
    edit_in_place(page, project, 25, lambda card: card.locator(".split-button").click(), "studio-31-split-1366.png")
    expect(page.locator(".scene-card")).to_have_count(32)
    expect(page.locator("#bring-up-to-date")).to_contain_text("2 scenes need a new clip")  # and the new half
    assert page.locator("#counts").text_content().split() == ["0", "generating", "31", "ready", "0", "failed"]

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    edit_in_place(page, project, 10, lambda card: card.locator(".duplicate-button").click(),
                  "studio-31-duplicate-390.png")
    expect(page.locator(".scene-card")).to_have_count(33)
    expect(page.locator("#bring-up-to-date")).to_contain_text("3 scenes need a new clip")
    moved = project.scenes.get(position=14)
    edit_in_place(page, project, 15, lambda card: card.locator(".move-later").click(), "studio-31-later-390.png")
    assert project.scenes.get(pk=moved.pk).position == 15  # one place down, its card followed on the screen
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
