"""The song's structure from a hosted model (All-In-One on Replicate, the flavor's
``analysis_model``): a prediction like any other (priced, budgeted, resumed after a restart);
its beats, bar starts and named sections replace the local analysis in the API, on the
timeline and in the scene writer's plan. Offline, or when it fails, the local analysis stays
and says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.tasks import default_task_backend

from mv import audio, flavors, music, planning, tasks
from mv.models import AudioTrack, JobStatus, StructureAnalysis
from mv.pipeline import projects, songs
from tests.factories import advance
from tests.fakes import songs as generated
from tests.fakes.model_schemas import schemas

ALLIN1 = "sakemin/all-in-one-music-structure-analyzer"
DUMMY_TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
IMMEDIATE_TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    return generated.drum_pattern(120, seconds=64).write(tmp_path_factory.mktemp("songs") / "groove64.wav")


def uploaded(user, path: Path) -> AudioTrack:
    track = audio.import_upload(user, SimpleUploadedFile(path.name, path.read_bytes()))
    track.refresh_from_db()
    return track


def waltz(seconds: float) -> dict:
    """All-In-One's answer for a waltz at 90 BPM: three beats to the bar, verse and two choruses."""
    beats = [round(0.4 + k * 60 / 90, 3) for k in range(int((seconds - 0.4) * 90 / 60))]
    positions = [k % 3 + 1 for k in range(len(beats))]
    return {"path": "x.mp3", "bpm": 90, "beats": beats, "beat_positions": positions,
            "downbeats": [b for b, p in zip(beats, positions, strict=True) if p == 1],
            "segments": [{"start": 0.0, "end": 0.4, "label": "start"}, {"start": 0.4, "end": 16.4, "label": "verse"},
                         {"start": 16.4, "end": 32.4, "label": "chorus"}, {"start": 32.4, "end": 48.4, "label": "verse"},
                         {"start": 48.4, "end": seconds - 0.2, "label": "chorus"},
                         {"start": seconds - 0.2, "end": seconds, "label": "end"}]}


def test_with_a_structure_model_the_analysis_has_its_named_sections_and_downbeats(fake_replicate, alice_client,
                                                                                    user, song):
    fake_replicate.structures.append(waltz(64.0))
    track = uploaded(user, song)  # analysed locally, then heard by the model, here at once
    (row,) = track.structure_analyses.all()
    assert row.status == JobStatus.SUCCEEDED, row.error
    version = schemas()[ALLIN1].version
    assert row.model == f"{ALLIN1}:{version}" and fake_replicate.creates(ALLIN1) == 1
    (create,) = [r for r in fake_replicate.requests_to("POST", r"^/v1/predictions$") if r["json"]["version"] == version]
    assert create["json"]["input"]["model"] == "harmonix-all" and "/v1/files/" in create["json"]["input"]["music_input"]
    assert row.cost_usd is not None and row.billed_units["kind"] == "analysis"  # in the ledger, by GPU time
    body = alice_client.get(f"/api/audio/{track.pk}/analysis").json()
    assert body["source"] == "model" and body["meter"] == 3 and body["tempo"] == 90
    assert [s["label"] for s in body["sections"]] == ["verse", "chorus", "verse", "chorus"]
    assert body["sections"][0]["start"] == 0.0 and body["sections"][-1]["end"] == pytest.approx(track.duration, abs=0.01)
    assert body["downbeats"][:3] == pytest.approx([0.4, 2.4, 4.4], abs=0.001)  # every third beat
    assert "structure model" in body["structure_message"]
    # the scene writer's plan names them, and every section start is a cut
    slots = planning.plan(track, start=0, end=None, count=None, flavor=flavors.resolve("default"))
    assert {16.4, 32.4, 48.4} <= {s.start for s in slots}
    text = planning.plan_text(slots, len(slots), 8)
    assert "first verse" in text and "second chorus" in text
    # the timeline draws the named sections
    project = projects.create_project(owner=user, video_description="a waltz", audio_track=track,
                                      flavor=flavors.resolve("default"))
    page = alice_client.get(project.get_absolute_url()).content.decode()
    assert ">chorus</text>" in page and ">verse</text>" in page


def test_a_restarted_worker_resumes_the_structure_model_and_a_model_analysis_is_never_replaced(
        fake_replicate, user, song, settings):
    settings.TASKS = DUMMY_TASKS
    track = uploaded(user, song)
    track.record_analysis(music.analyze(Path(song)))
    fake_replicate.hold(ALLIN1)
    row = songs.request_structure(track)
    assert row is not None and row.estimated_cost_usd > 0  # priced before it starts
    assert songs.request_structure(track) is None  # once per track
    assert advance(row) is False  # started; then the worker died
    fake_replicate.release(ALLIN1)
    settings.TASKS = IMMEDIATE_TASKS
    assert tasks.resume_interrupted() == 1
    row.refresh_from_db()
    assert row.status == JobStatus.SUCCEEDED, row.error
    assert fake_replicate.creates(ALLIN1) == 1  # resumed, not paid twice
    track.refresh_from_db()
    assert track.analysis["source"] == "model"
    assert not AudioTrack.objects.needing_analysis().filter(pk=track.pk).exists()
    assert track.analyze() is False and track.analysis["source"] == "model"


def test_a_structure_answer_we_cannot_read_fails_plainly_and_the_local_analysis_stays(
        fake_replicate, alice_client, user, song):
    fake_replicate.structures.append({"bpm": 120, "beats": "not a list", "segments": []})
    track = uploaded(user, song)
    (row,) = track.structure_analyses.all()
    assert row.status == JobStatus.FAILED and "local analysis" in row.error
    body = alice_client.get(f"/api/audio/{track.pk}/analysis").json()
    assert body["source"] == "local" and body["status"] == "ready" and body["beats"]
    assert body["structure_message"] == "local analysis (the structure model failed)"


def test_over_the_budget_no_structure_model_runs_and_the_local_analysis_is_used(fake_replicate, user, song, settings):
    settings.TASKS = DUMMY_TASKS
    settings.MV_USER_DAILY_BUDGET_USD = 0.001
    track = uploaded(user, song)
    track.record_analysis(music.analyze(Path(song)))
    assert songs.request_structure(track) is None and not StructureAnalysis.objects.exists()
    track.refresh_from_db()
    assert track.structure_state().startswith("local analysis (the structure model was not run: over today's budget")


def _waiting_plan(user, song) -> tuple[AudioTrack, object]:
    """A track still analysing and a whole scene plan asked for meanwhile (tasks are not run)."""
    track = uploaded(user, song)
    AudioTrack.objects.filter(pk=track.pk).update(analysis_status=AudioTrack.AnalysisStatus.ANALYZING, analysis={})
    track.refresh_from_db()
    flavor = flavors.resolve("default")
    project = projects.create_project(owner=user, video_description="a waltz", audio_track=track, flavor=flavor)
    writing = projects.request_scenes(project, flavor)
    assert writing.slots is None and writing.waits_for_event()
    return track, writing


def test_a_scene_plan_waits_for_the_structure_model_and_is_cut_on_its_sections(fake_replicate, user, song, settings):
    """No clock: the local analysis asks the model, the song settles only once it answers, and
    that finish cuts the waiting plan on the model's named sections and starts it on commit."""
    settings.TASKS = DUMMY_TASKS
    fake_replicate.structures.append(waltz(64.0))
    track, writing = _waiting_plan(user, song)
    queue = default_task_backend.results
    queue.clear()
    assert track.analyze()  # the local analysis: the model is asked, the plan still waits
    (row,) = track.structure_analyses.all()
    writing.refresh_from_db()
    assert writing.slots is None and writing.waits_for_event() and not track.is_settled
    assert writing.project.waiting_for_song == "analyzing"
    kinds = [r.kwargs.get("kind") for r in queue]
    assert "structureanalysis" in kinds and "scenewriting" not in kinds
    while not advance(row):
        pass
    assert row.status == JobStatus.SUCCEEDED, row.error
    writing.refresh_from_db()
    assert writing.slots and {16.4, 32.4, 48.4} <= {s.start for s in writing.slots}  # the model's sections
    assert any(r.kwargs.get("pk") == str(writing.pk) for r in queue)  # started by the model's finish
    assert not writing.waits_for_event()


def test_a_structure_model_that_fails_lets_the_waiting_plan_start_on_the_local_analysis(
        fake_replicate, user, song, settings):
    settings.TASKS = DUMMY_TASKS
    fake_replicate.structures.append({"bpm": 120, "beats": "not a list", "segments": []})
    track, writing = _waiting_plan(user, song)
    track.analyze()
    (row,) = track.structure_analyses.all()
    while not advance(row):
        pass
    assert row.status == JobStatus.FAILED
    writing.refresh_from_db()
    track.refresh_from_db()
    assert track.analysis["source"] == "local" and writing.slots and not writing.waits_for_event()
    writing.project.audio_track = track
    assert writing.slots == writing.project.plan(flavors.resolve("default"))  # cut on the local analysis


def test_over_the_budget_the_waiting_plan_starts_on_the_local_analysis_at_once(fake_replicate, user, song, settings):
    settings.TASKS = DUMMY_TASKS
    track, writing = _waiting_plan(user, song)
    # what the writing is estimated at fits; nothing more does
    settings.MV_USER_DAILY_BUDGET_USD = float(writing.estimated_cost_usd) + 0.000001
    track.analyze()
    assert not track.structure_analyses.exists()
    writing.refresh_from_db()
    assert writing.slots and not writing.waits_for_event()


def test_offline_the_local_analysis_is_used_and_says_so(alice_client, user, song):
    track = uploaded(user, song)  # the local provider: no structure model
    assert not track.structure_analyses.exists()
    body = alice_client.get(f"/api/audio/{track.pk}/analysis").json()
    assert body["source"] == "local" and body["meter"] == 4 and body["structure_message"] == "local analysis"


def test_all_in_one_json_becomes_an_analysis_with_its_silence_folded_in():
    answer = waltz(64.0)
    result = music.from_allinone(answer, duration=63.5, envelope=[0.5] * 635, envelope_rate=10)
    assert result.source == "model" and result.meter == 3 and result.tempo == 90
    assert [(s.start, s.label) for s in result.sections] == [(0.0, "verse"), (16.4, "chorus"), (32.4, "verse"),
                                                             (48.4, "chorus")]
    assert result.sections[-1].end == 63.5 and max(result.beats) < 63.5
    assert music.Analysis.from_dict(result.to_dict()) == music.Analysis.from_dict(result.to_dict())
    assert music.Analysis.from_dict(result.to_dict()).meter == 3
    for bad in ({}, {"beats": [1, 2], "segments": "x"}, {"beats": [0.5, 1.0], "segments": [{"start": 0}]}, []):
        with pytest.raises(music.StructureError):
            music.from_allinone(bad, duration=10, envelope=[], envelope_rate=10)


def test_the_song_card_says_who_heard_the_song(fake_replicate, alice_client, user, song):
    fake_replicate.structures.append(waltz(64.0))
    track = uploaded(user, song)
    card = alice_client.get(f"/songs/{track.pk}/status/", HTTP_HX_REQUEST="true").content.decode()
    assert "90 BPM · 3/4 · 4 sections · beats and sections heard by the structure model" in " ".join(card.split())
