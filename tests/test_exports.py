"""Take the cut to an editor: OTIO, FCPXML and EDL exports and the editing zip, each read back
with OpenTimelineIO and checked against the plan."""

from __future__ import annotations

import io
import zipfile

import opentimelineio as otio
import pytest

from mv import files, media
from mv.models import AudioTrack
from tests.conftest import make_clip
from tests.factories import finished_clip, written_project

SLOTS = [(2.0, 8.5), (8.5, 15.0), (15.0, 22.0)]  # a 20 s part from 2 s, every clip trimmed


@pytest.fixture(scope="module")
def eight_second_clip(media_dir):
    return make_clip(media_dir / "export-8s.mp4", seconds=8.0, rate=24)


def _project_on_slots(user, song_mp3, clip, slots, description: str):
    """A project under the song from 2 s, its scenes on these slots, each with this clip."""
    track = AudioTrack.objects.create(owner=user, title="song", duration=media.audio_duration(song_mp3))
    files.store(track.file, song_mp3, "song.mp3")
    track.save(update_fields=["file"])
    project = written_project(user, scenes=len(slots), audio_track=track, video_description=description,
                              audio_start=2.0, song_end=slots[-1][1])
    for scene, (start, end) in zip(project.scenes.order_by("position"), slots, strict=True):
        scene.start, scene.end = start, end
        scene.save(update_fields=["start", "end"])
        finished_clip(scene, clip)
    return project


@pytest.fixture
def project(user, song_mp3, eight_second_clip):
    return _project_on_slots(user, song_mp3, eight_second_clip, SLOTS, "Rooftop concert")


def read(response, adapter: str) -> otio.schema.Timeline:
    assert response.status_code == 200, response.content[:500]
    return otio.adapters.read_from_string(response.content.decode(), adapter)


def seconds(items) -> list[float]:
    return [item.source_range.duration.to_seconds() for item in items]


def test_the_otio_export_has_one_clip_per_scene_in_order_with_the_slots_lengths(alice_client, project):
    timeline = read(alice_client.get(f"/api/mv/projects/{project.pk}/export.otio"), "otio_json")
    video, audio = timeline.video_tracks()[0], timeline.audio_tracks()[0]
    scenes = list(project.scenes.order_by("position").select_related("current_clip"))
    assert [c.name for c in video] == ["Scene 1", "Scene 2", "Scene 3"]
    assert [c.media_reference.target_url for c in video] == [
        f"http://testserver/api/mv/get_video/{s.current_clip.pk}" for s in scenes]
    assert seconds(video) == pytest.approx([end - start for start, end in SLOTS], abs=1 / 24)
    assert sum(seconds(video)) == pytest.approx(20.0, abs=1 / 48)
    assert all(c.source_range.start_time.to_seconds() == 0 for c in video)  # the stitch keeps each clip's start
    [song] = list(audio)
    assert song.media_reference.target_url == f"http://testserver/api/audio/get/{project.audio_track_id}"
    assert song.source_range.start_time.to_seconds() == pytest.approx(2.0, abs=1 / 24)
    assert song.source_range.duration.to_seconds() == pytest.approx(20.0, abs=1 / 48)


@pytest.mark.parametrize(("name", "adapter"), [("fcpxml", "fcpx_xml"), ("edl", "cmx_3600")])
def test_fcpxml_and_edl_exports_read_back_with_the_same_cut(alice_client, project, name, adapter):
    response = alice_client.get(f"/api/mv/projects/{project.pk}/export.{name}")
    assert f'filename="rooftop-concert.{name}"' in response["Content-Disposition"]
    timeline = read(response, adapter)
    video = [c for c in timeline.video_tracks()[0] if isinstance(c, otio.schema.Clip)]
    assert len(video) == 3
    assert seconds(video) == pytest.approx([end - start for start, end in SLOTS], abs=1 / 24)


def test_the_editing_zip_holds_timelines_clips_and_the_songs_part(alice_client, project, tmp_path):
    response = alice_client.get(f"/api/mv/projects/{project.pk}/export.zip")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = set(archive.namelist())
    assert {"clips/scene-01.mp4", "clips/scene-02.mp4", "clips/scene-03.mp4", "song.wav",
            "timeline.otio", "timeline.fcpxml", "timeline.edl"} <= names
    timeline = otio.adapters.read_from_string(archive.read("timeline.otio").decode(), "otio_json")
    assert [c.media_reference.target_url for c in timeline.video_tracks()[0]] == [
        "clips/scene-01.mp4", "clips/scene-02.mp4", "clips/scene-03.mp4"]
    [song] = list(timeline.audio_tracks()[0])
    assert song.media_reference.target_url == "song.wav"
    assert song.source_range.start_time.to_seconds() == 0
    assert media.audio_duration(archive.extract("song.wav", tmp_path)) == pytest.approx(20.0, abs=0.01)


def test_a_project_with_a_scene_still_rendering_cannot_be_exported(alice_client, user, project):
    scene = project.scenes.order_by("position").last()
    scene.current_clip = None
    scene.save(update_fields=["current_clip"])
    response = alice_client.get(f"/api/mv/projects/{project.pk}/export.otio")
    assert response.status_code == 400
    assert response.json()["error"] == "scenes_not_ready"


def test_another_users_project_is_not_found(client, other_user, project):
    client.force_login(other_user)
    assert client.get(f"/api/mv/projects/{project.pk}/export.otio").status_code == 404
    assert client.get(f"/api/mv/projects/{project.pk}/export.zip").status_code == 404


def test_the_full_video_section_links_the_exports(alice_client, project):
    from tests.factories import finished_stitch

    finished_stitch(project)
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert f"/api/mv/projects/{project.pk}/export.zip" in page
    assert "Download for editing" in page


@pytest.fixture
def fitted_project(user, song_mp3, eight_second_clip):
    """Two scenes with 8 s clips: 7.5 s (the clip plays 16/15 faster to fill it) and 5.5 s (trimmed)."""
    return _project_on_slots(user, song_mp3, eight_second_clip, [(2.0, 9.5), (9.5, 15.0)], "Fit to fill")


def test_the_otio_export_carries_a_retimed_clips_speed_over_the_whole_clip(alice_client, fitted_project):
    timeline = read(alice_client.get(f"/api/mv/projects/{fitted_project.pk}/export.otio"), "otio_json")
    fitted, trimmed = timeline.video_tracks()[0]
    assert seconds([fitted, trimmed]) == pytest.approx([7.5, 5.5], abs=1 / 48)  # the track keeps the slots
    [warp] = fitted.effects
    assert isinstance(warp, otio.schema.LinearTimeWarp) and warp.time_scalar == pytest.approx(8 / 7.5)
    played = fitted.source_range.duration.to_seconds() * warp.time_scalar
    assert played == pytest.approx(8.0, abs=1 / 48) == fitted.media_reference.available_range.duration.to_seconds()
    assert len(trimmed.effects) == 0  # 8 s in 5.5 s would be too fast: its first 5.5 s are shown


def test_the_edl_export_has_an_m2_speed_and_the_whole_clip_as_its_source(alice_client, fitted_project):
    response = alice_client.get(f"/api/mv/projects/{fitted_project.pk}/export.edl")
    text = response.content.decode()
    events = [line.split() for line in text.splitlines() if line[:3].isdigit()]
    assert [e[4:6] for e in events] == [["00:00:00:00", "00:00:08:00"], ["00:00:00:00", "00:00:05:12"]]
    assert [e[6:8] for e in events] == [["00:00:00:00", "00:00:07:12"], ["00:00:07:12", "00:00:13:00"]]
    [m2] = [line.split() for line in text.splitlines() if line.startswith("M2")]
    assert float(m2[-2]) == pytest.approx(24 * 8 / 7.5)  # frames per second the source plays at
    fitted, trimmed = read(response, "cmx_3600").video_tracks()[0]
    [warp] = fitted.effects
    assert isinstance(warp, otio.schema.LinearTimeWarp) and len(trimmed.effects) == 0


def test_the_fcpxml_export_maps_a_retimed_clips_slot_onto_the_whole_clip(alice_client, fitted_project):
    import xml.etree.ElementTree as ET

    response = alice_client.get(f"/api/mv/projects/{fitted_project.pk}/export.fcpxml")
    root = ET.fromstring(response.content)
    fitted, trimmed = root.find("./project/sequence/spine")
    assert fitted.get("duration") == "15/2s" and trimmed.get("duration") == "11/2s"
    points = [(p.get("time"), p.get("value")) for p in fitted.find("timeMap")]
    assert points == [("0s", "0s"), ("15/2s", "8/1s")]  # the adapter's own notation
    assert trimmed.find("timeMap") is None
    assert len(read(response, "fcpx_xml").video_tracks()[0]) == 2  # still a timeline the adapter reads
