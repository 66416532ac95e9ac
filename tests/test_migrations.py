"""Schema changes carry existing rows over (every database is treated as deployed)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("mv", "0001_initial")]
AFTER = [("mv", "0002_prediction_rows")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_apps(transactional_db):
    apps = _migrate(BEFORE)
    yield apps
    _migrate(executor_leaf())


def executor_leaf():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes("mv")


def test_scene_writing_state_and_slots_are_carried_into_the_new_rows(old_apps):
    User = old_apps.get_model("auth", "User")
    Project = old_apps.get_model("mv", "Project")
    Scene = old_apps.get_model("mv", "Scene")
    AudioTrack = old_apps.get_model("mv", "AudioTrack")
    Clip = old_apps.get_model("mv", "Clip")
    owner = User.objects.create(username="carried")
    track = AudioTrack.objects.create(owner=owner, original="audio/original/x.mp3", duration=20.0)
    started = timezone.now() - timedelta(seconds=5)
    token = uuid.uuid4()
    writing = Project.objects.create(owner=owner, video_description="still writing", scenes_status="writing",
                                     scenes_prediction_id="abc123", scenes_started_at=started, scenes_poll_token=token,
                                     scenes_deadline_at=started + timedelta(minutes=30))
    ready = Project.objects.create(owner=owner, video_description="ready", scenes_status="ready", audio_track=track,
                                   audio_start=2.0)
    failed = Project.objects.create(owner=owner, video_description="failed", scenes_status="failed",
                                    scenes_error="The scene writer failed: E1")
    first = Scene.objects.create(project=ready, position=0, description="one")
    short = Clip.objects.create(owner=owner, scene=first, status="succeeded", duration=6.0)
    Scene.objects.filter(pk=first.pk).update(current_clip=short)
    second = Scene.objects.create(project=ready, position=1, description="two", prompt_status="failed",
                                  prompt_error="Rewrite junk")
    third = Scene.objects.create(project=ready, position=2, description="three")

    apps = _migrate(AFTER)
    SceneWriting = apps.get_model("mv", "SceneWriting")
    NewScene = apps.get_model("mv", "Scene")
    running = SceneWriting.objects.get(project_id=writing.pk)
    assert (running.status, running.prediction_id, running.poll_token, running.provider) == (
        "running", "abc123", token, "replicate")
    assert running.started_at == started and running.deadline_at == started + timedelta(minutes=30)
    assert SceneWriting.objects.get(project_id=ready.pk, scene__isnull=True).status == "succeeded"
    lost = SceneWriting.objects.get(project_id=failed.pk)
    assert lost.status == "failed" and lost.error == "The scene writer failed: E1"
    rewrite = SceneWriting.objects.get(scene_id=second.pk)
    assert rewrite.status == "failed" and rewrite.error == "Rewrite junk"
    # The slots the app used to compute: audio start 2 s, scene 1's clip 6 s, then 8 s each, to the song's end.
    slots = [(s.start, s.end) for s in NewScene.objects.filter(project_id=ready.pk).order_by("position")]
    assert slots == [(2.0, 8.0), (8.0, 16.0), (16.0, 20.0)]
    assert NewScene.objects.get(pk=third.pk).description == "three"


def test_existing_projects_are_named_after_their_description(transactional_db):
    # Back to the start first, then forward: unapplying straight to 0004 across the merged
    # branches leaves columns behind on SQLite (a table one branch's unapply remakes is built
    # from the state in the forward order, which holds columns another branch already dropped).
    _migrate(BEFORE)
    apps = _migrate([("mv", "0004_music_range_format_ledger")])
    User = apps.get_model("auth", "User")
    Project = apps.get_model("mv", "Project")
    owner = User.objects.create(username="titled")
    long = Project.objects.create(owner=owner, video_description="A band  plays\non a rooftop " + "at dusk " * 10)
    blank = Project.objects.create(owner=owner, video_description="   ")
    try:
        apps = _migrate([("mv", "0005_project_title")])
        Titled = apps.get_model("mv", "Project")
        title = Titled.objects.get(pk=long.pk).title
        assert title.startswith("A band plays on a rooftop at dusk") and title.endswith("…") and len(title) == 61
        assert Titled.objects.get(pk=blank.pk).title == "Untitled project"
    finally:
        _migrate(executor_leaf())


def test_kept_parts_are_carried_over_as_trimmed_parts_when_fit_to_fill_arrives(transactional_db):
    apps = _migrate([("mv", "0018_merge_performer_music")])
    User = apps.get_model("auth", "User")
    Clip = apps.get_model("mv", "Clip")
    ClipPart = apps.get_model("mv", "ClipPart")
    clip = Clip.objects.create(owner=User.objects.create(username="parts"), file="clips/a.mp4")
    part = ClipPart.objects.create(clip=clip, frames=45, format="h264.160x90", forced=False, file="parts/a.mp4")
    try:
        apps = _migrate([("mv", "0019_clip_part_retimed")])
        kept = apps.get_model("mv", "ClipPart").objects.get(pk=part.pk)
        assert (kept.frames, kept.forced, kept.retimed, kept.file.name) == (45, False, False, "parts/a.mp4")
        # The same clip and frames retimed is another part, not a clash with the trimmed one.
        apps.get_model("mv", "ClipPart").objects.create(clip_id=clip.pk, frames=45, format="h264.160x90",
                                                        forced=False, retimed=True, file="parts/b.mp4")
    finally:
        _migrate(executor_leaf())


def test_kept_parts_carry_over_as_used_now_so_none_is_pruned_at_once(transactional_db):
    from mv.models.parts import drop_stale_parts

    apps = _migrate([("mv", "0019_clip_part_retimed")])
    clip = apps.get_model("mv", "Clip").objects.create(
        owner=apps.get_model("auth", "User").objects.create(username="used"), file="clips/a.mp4")
    old = timezone.now() - timedelta(days=400)
    part = apps.get_model("mv", "ClipPart").objects.create(clip=clip, frames=45, format="h264.160x90",
                                                            file="parts/a.mp4", created_at=old)
    try:
        apps = _migrate([("mv", "0020_clip_part_used_at")])
        kept = apps.get_model("mv", "ClipPart").objects.get(pk=part.pk)
        assert kept.used_at > timezone.now() - timedelta(minutes=5) and kept.created_at == old
    finally:
        _migrate(executor_leaf())
    assert drop_stale_parts(timedelta(days=30)) == 0
