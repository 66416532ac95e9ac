"""Timeline edits: split, duplicate, delete, reorder, move a boundary, and bringing the video
up to date afterwards (rows built directly; rendering is the local provider's, for real, only
where the re-stitch is what is tested)."""

from __future__ import annotations

import json
import re

import pytest

from mv.errors import Refused
from mv.models import AudioTrack, Clip, Scene, Stitch, StitchItem
from mv.pipeline import timeline
from tests.factories import finished_clip, written_project

HX = {"HTTP_HX_REQUEST": "true"}
BEATS = [round(0.5 * n, 3) for n in range(81)]  # 120 bpm over 40 s


@pytest.fixture
def track(user):
    return AudioTrack.objects.create(owner=user, title="song", original="audio/original/x.mp3", duration=40.0)


@pytest.fixture
def project(user, track):
    """Three 8 s scenes from 0 s, each with a fitting clip, stitched."""
    project = written_project(user, scenes=3, audio_track=track, video_description="Rooftop concert")
    clips = [finished_clip(scene) for scene in project.scenes.order_by("position")]
    Clip.objects.filter(pk__in=[c.pk for c in clips]).update(file="clips/stored.mp4")  # a stitch needs files
    stitch = Stitch.objects.create(owner=user, project=project, status="succeeded", num_clips=3)
    StitchItem.objects.bulk_create(StitchItem(stitch=stitch, clip=c, position=i, length=8.0) for i, c in enumerate(clips))
    return project


def six_second_scenes(project) -> None:
    """The fixture's scenes made 6 s long (0-6, 6-12, 12-18 s), each with a 6 s clip: a scene
    that grows past 6 s (and not past the longest clip, 8 s) then needs a new clip."""
    for scene in project.scenes.all():
        Scene.objects.filter(pk=scene.pk).update(start=6.0 * scene.position, end=6.0 * (scene.position + 1))
    Clip.objects.filter(scene__project=project).update(duration=6.0)
    StitchItem.objects.filter(stitch__project=project).update(length=6.0)


def slots(project) -> list[tuple[float, float]]:
    return [(s.start, s.end) for s in project.scenes.order_by("position")]


def descriptions(project) -> list[str]:
    return list(project.scenes.order_by("position").values_list("description", flat=True))


def test_splitting_a_scene_cuts_its_slot_at_its_middle_and_leaves_the_others(project):
    first = project.scenes.get(position=0)
    added = timeline.split_scene(first)
    assert slots(project) == [(0.0, 4.0), (4.0, 8.0), (8.0, 16.0), (16.0, 24.0)]
    assert added.position == 1 and added.description == "scene 1" and added.current_clip is None
    first.refresh_from_db()
    assert first.current_clip is not None  # the clip stays, now out of date (8 s in a 4 s slot)


def test_splitting_snaps_to_the_nearest_beat_when_the_song_is_analysed(project, track):
    track.analysis = {"beats": [1.3, 2.9, 4.6, 7.1]}
    track.save(update_fields=["analysis"])
    timeline.split_scene(project.scenes.get(position=0), at=3.5)
    assert slots(project)[:2] == [(0.0, 2.9), (2.9, 8.0)]


def test_a_scene_without_a_song_cannot_be_split(user):
    project = written_project(user, scenes=2)
    with pytest.raises(Refused) as refused:
        timeline.split_scene(project.scenes.first())
    assert refused.value.code == "no_song"


def test_deleting_a_scene_gives_its_slot_to_the_one_before_and_keeps_its_clips(project):
    middle = project.scenes.get(position=1)
    clip_id = middle.current_clip_id
    timeline.delete_scene(middle)
    assert slots(project) == [(0.0, 16.0), (16.0, 24.0)]
    assert descriptions(project) == ["scene 1", "scene 3"]
    assert Clip.objects.filter(pk=clip_id, scene__isnull=True).exists()


def test_deleting_the_first_scene_gives_its_slot_to_the_next(project):
    timeline.delete_scene(project.scenes.get(position=0))
    assert slots(project) == [(0.0, 16.0), (16.0, 24.0)]


def test_the_last_scene_cannot_be_deleted(user, track):
    project = written_project(user, scenes=1, audio_track=track)
    with pytest.raises(Refused):
        timeline.delete_scene(project.scenes.get())


def test_moving_a_boundary_snaps_to_a_beat_and_stays_inside_the_two_scenes(project, track):
    track.analysis = {"beats": BEATS}
    track.save(update_fields=["analysis"])
    second = project.scenes.get(position=1)
    timeline.move_boundary(second, 10.2)
    assert slots(project) == [(0.0, 10.0), (10.0, 16.0), (16.0, 24.0)]
    timeline.move_boundary(second, 99.0)  # past the scene's end: kept half a second inside it
    assert slots(project)[1] == (15.5, 16.0)


def test_moving_a_boundary_without_beats_clamps_it(project):
    timeline.move_boundary(project.scenes.get(position=2), 1.0)
    assert slots(project) == [(0.0, 8.0), (8.0, 8.5), (8.5, 24.0)]


def test_the_first_scenes_start_is_not_a_boundary(project):
    with pytest.raises(Refused):
        timeline.move_boundary(project.scenes.get(position=0), 2.0)


def test_reordering_keeps_each_scenes_length_and_re_stitches_at_once(project):
    third = project.scenes.get(position=2)
    timeline.split_scene(project.scenes.get(position=0))  # scene 1 -> 4 s + 4 s
    assert timeline.move_scene(project.scenes.get(pk=third.pk), 0).position == 0
    assert descriptions(project) == ["scene 3", "scene 1", "scene 1", "scene 2"]
    assert slots(project) == [(0.0, 8.0), (8.0, 12.0), (12.0, 16.0), (16.0, 24.0)]


def test_reordering_fitting_clips_re_stitches_in_the_new_order(project):
    before = Stitch.objects.count()
    timeline.move_scene(project.scenes.get(position=2), 0)
    latest = project.stitches.order_by("-created_at").first()
    assert Stitch.objects.count() == before + 1
    assert [c.pk for c in latest.ordered_clips()] == [s.current_clip_id for s in project.scenes.order_by("position")]


def test_reordering_to_a_place_that_does_not_exist_is_refused(project):
    with pytest.raises(Refused) as refused:
        timeline.move_scene(project.scenes.get(position=0), 5)
    assert refused.value.message == "Choose a place between 1 and 3."


def test_duplicating_splits_the_scenes_slot_into_two_scenes_with_its_prompt_the_copy_needing_a_clip(project):
    first = project.scenes.get(position=0)
    copy = timeline.duplicate_scene(first)
    assert copy.position == 1 and copy.current_clip is None and copy.description == "scene 1"
    assert slots(project) == [(0.0, 4.0), (4.0, 8.0), (8.0, 16.0), (16.0, 24.0)]  # the part stays filled
    assert descriptions(project) == ["scene 1", "scene 1", "scene 2", "scene 3"]
    assert [s.pk for s in timeline.out_of_date(project)] == [copy.pk]  # the original's clip still covers it


def test_duplicating_cuts_on_no_beat_that_would_leave_a_half_shorter_than_a_clip(user, track):
    track.analysis = {"beats": [3.95, 6.2, 8.0]}  # around the middle of 0-10 s, each leaves a half < 4 s
    track.save(update_fields=["analysis"])
    project = written_project(user, scenes=2, audio_track=track, seconds=10.0)
    timeline.duplicate_scene(project.scenes.get(position=0))
    assert slots(project) == [(0.0, 5.0), (5.0, 10.0), (10.0, 20.0)]
    timeline.duplicate_scene(project.scenes.get(position=0))  # 0-5 s: shorter than two 4 s clips, still cut
    assert slots(project)[:3] == [(0.0, 3.95), (3.95, 5.0), (5.0, 10.0)]


def test_a_fresh_project_that_fills_the_whole_song_can_duplicate_any_scene(user, track):
    project = written_project(user, scenes=5, audio_track=track)  # 0-40 s: the song is full
    for position in (0, 4, 2):
        timeline.duplicate_scene(project.scenes.get(position=position))
    assert len(slots(project)) == 8 and slots(project)[0][0] == 0.0 and slots(project)[-1][1] == 40.0
    short = written_project(user, scenes=2, audio_track=track, seconds=3.0)  # shorter than two 4 s clips
    timeline.duplicate_scene(short.scenes.get(position=0))
    assert slots(short) == [(0.0, 1.5), (1.5, 3.0), (3.0, 6.0)]


def test_prompts_that_say_their_part_are_renumbered_after_a_reorder_split_or_delete(project):
    for scene in project.scenes.all():
        Scene.objects.filter(pk=scene.pk).update(description=f"Shot {scene.position + 1}. Part {scene.position + 1} of 3.")
    timeline.move_scene(project.scenes.get(position=2), 0)
    assert descriptions(project) == ["Shot 3. Part 1 of 3.", "Shot 1. Part 2 of 3.", "Shot 2. Part 3 of 3."]
    timeline.split_scene(project.scenes.get(position=0))
    assert descriptions(project)[:2] == ["Shot 3. Part 1 of 4.", "Shot 3. Part 2 of 4."]
    timeline.delete_scene(project.scenes.get(position=0))
    assert descriptions(project) == ["Shot 3. Part 1 of 3.", "Shot 1. Part 2 of 3.", "Shot 2. Part 3 of 3."]


def test_the_local_scene_writer_ends_each_sentence_with_one_full_stop():
    from mv import flavors
    from mv.providers.base import SceneRequest
    from mv.providers.local import LocalProvider

    request = SceneRequest(idea="A packed room.", character_description="", character_characteristics="calm",
                           number_of_scenes=2, video_type="music video", video_characteristics="warm light",
                           camera_angle="eye level", mode="music_video", scene_plan="")
    text = LocalProvider().start_scenes(flavors.resolve("default"), request).text
    assert "A packed room. Part 1 of 2. Look: warm light." in text and ".." not in text


def test_only_clips_that_no_longer_cover_their_slot_are_out_of_date(project):
    six_second_scenes(project)
    timeline.move_boundary(project.scenes.get(position=1), 5.0)  # 0-5 s (covered) and 5-12 s (7 s > 6 s)
    assert [s.position for s in timeline.out_of_date(project)] == [1]


def test_a_scene_longer_than_the_longest_clip_is_covered_by_a_clip_that_long(project):
    timeline.move_boundary(project.scenes.get(position=1), 10.0)  # 0-10 s with its 8 s clip
    assert timeline.out_of_date(project) == []


def test_bringing_up_to_date_renders_only_the_scenes_without_a_covering_clip_and_re_stitches(project):
    timeline.split_scene(project.scenes.get(position=0))
    old_clips = set(Clip.objects.values_list("pk", flat=True))
    stitches = Stitch.objects.count()
    new = timeline.refresh(project, project.owner)  # runs in-process on the local provider
    assert [c.scene.position for c in new] == [1]  # the first half's 8 s clip still covers its 4 s
    assert [c.input["duration"] for c in new] == [4]
    assert old_clips <= set(Clip.objects.values_list("pk", flat=True))  # every old clip is kept
    assert Stitch.objects.count() == stitches + 1  # stitched automatically once all fit
    assert timeline.out_of_date(project) == []


def test_bringing_an_up_to_date_project_up_to_date_is_refused(project):
    with pytest.raises(Refused) as refused:
        timeline.refresh(project, project.owner)
    assert refused.value.code == "up_to_date"


# --- the views ----------------------------------------------------------------------------------


def oob_ids(html: str) -> list[str]:
    """The ids an answer swaps out of band, in order (a delete as "-id", an append as "+id")."""
    found = []
    for match in re.finditer(r'<(\w+) ([^>]*)hx-swap-oob="([^"]+)"', html):
        attrs, how = match.group(2), match.group(3)
        if how.startswith("beforeend:"):
            found.append("+" + re.search(r'id="([^"]+)"', html[match.end():]).group(1))
        else:
            found.append(("-" if how == "delete" else "") + re.search(r'id="([^"]+)"', attrs).group(1))
    return found


def test_a_boundary_move_swaps_only_the_two_cards_it_changed_and_the_parts_that_count_them(alice_client, project):
    six_second_scenes(project)
    second = project.scenes.get(position=1)
    response = alice_client.post(f"/scenes/{second.pk}/boundary/", {"start": "5"}, **HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and 'id="studio"' not in html
    assert oob_ids(html) == ["place-1", "place-2", "timeline", "counts", "banner", "project-costs", "full-video"]
    assert "1 scene needs a new clip" in html and 'id="video-stale"' in html  # the cut is no longer where it was
    assert f'<details class="menu scene-edit" open>\n        <summary class="button ghost" id="edit-{second.pk}">' in html
    assert json.loads(response["HX-Trigger-After-Settle"]) == {"studio-edited": {"scene": str(second.pk)}}


def test_splitting_appends_a_place_and_deleting_removes_the_last(alice_client, project):
    first = project.scenes.get(position=0)
    html = alice_client.post(f"/scenes/{first.pk}/split/", {"at": ""}, **HX).content.decode()
    assert oob_ids(html)[:4] == ["place-1", "place-2", "place-3", "+place-4"]
    html = alice_client.post(f"/scenes/{first.pk}/delete/", **HX).content.decode()
    assert oob_ids(html)[:4] == ["place-1", "place-2", "place-3", "-place-4"]


def test_a_refused_edit_shows_its_message_in_the_edited_card_only(alice_client, project):
    scene = project.scenes.get(position=0)
    Scene.objects.filter(pk=scene.pk).update(end=0.6)
    html = alice_client.post(f"/scenes/{scene.pk}/split/", {"at": ""}, **HX).content.decode()
    assert oob_ids(html)[0] == "place-1" and html.count("place-") == 1
    card = html.split('id="place-1"')[1].split('id="timeline"')[0]
    assert 'id="edit-error"' in card and "This scene is too short to split." in card


def test_edit_views_answer_405_to_get_and_404_for_another_users_scene(alice_client, client, other_user, project):
    scene = project.scenes.get(position=1)
    assert alice_client.get(f"/scenes/{scene.pk}/delete/").status_code == 405
    client.force_login(other_user)
    for action in ("split", "duplicate", "delete", "move", "boundary"):
        assert client.post(f"/scenes/{scene.pk}/{action}/", {"to": "1", "start": "9"}).status_code == 404
    assert project.scenes.count() == 3


def test_without_htmx_an_edit_redirects_to_the_page(alice_client, project):
    scene = project.scenes.get(position=1)
    response = alice_client.post(f"/scenes/{scene.pk}/move/", {"to": "1"})
    assert response.status_code == 302 and response.url == project.get_absolute_url()
    assert descriptions(project) == ["scene 2", "scene 1", "scene 3"]


def test_the_page_marks_out_of_date_clips_and_an_older_full_video(alice_client, project):
    six_second_scenes(project)
    timeline.delete_scene(project.scenes.get(position=2))  # scene 2 now lasts 12 s: its 6 s clip is short
    html = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert 'id="video-stale"' in html and html.count('class="stale-note small"') == 1
    assert "1 scene needs a new clip" in html


def test_the_timeline_shows_section_bands_and_beat_ticks_only_once_the_song_is_analysed(alice_client, project, track):
    html = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert "tl-band" not in html.split('id="timeline"')[1].split("</section>")[0] and 'class="tl-beat"' not in html
    track.analysis = {"beats": [0.5, 10.0, 20.0], "sections": [
        {"start": 0.0, "end": 10.0, "label": "intro", "energy": 0.3},
        {"start": 10.0, "end": 40.0, "label": "chorus", "energy": 1.0}]}
    track.save(update_fields=["analysis"])
    html = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert html.count('class="tl-beat"') == 3 and 'x1="25.0%"' in html
    assert 'x="25.0%" width="75.0%"' in html and ">chorus</text>" in html


def test_a_rendering_or_failed_scene_is_marked_on_the_strip(alice_client, project, user):
    first, second, _ = project.scenes.order_by("position")
    Clip.objects.create(owner=user, scene=first, status="running", prompt="p", progress=20)
    Clip.objects.create(owner=user, scene=second, status="failed", prompt="p", error="The model refused the prompt.")
    html = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert f'class="tl-thumb state-generating" id="thumb-{first.pk}"' in html
    assert f'class="tl-thumb state-failed" id="thumb-{second.pk}"' in html
    assert html.count('class="tl-thumb state-ready"') == 1


@pytest.mark.parametrize(("slot", "asked"), [(3.2, 4), (5.3, 6), (8.0, 8), (9.5, 8)])
def test_veo_is_asked_for_the_shortest_length_it_makes_that_covers_a_slot(fake_replicate, tmp_path, slot, asked):
    from mv import flavors
    from mv.providers import get_provider
    from mv.providers.base import ClipRequest

    update = get_provider().start_clip(flavors.resolve("default"), ClipRequest(prompt="x", duration=slot),
                                       workdir=tmp_path)
    assert update.input["duration"] == asked
