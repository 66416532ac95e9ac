"""Money wired into the rows, against the fake Replicate: estimates before paying, the
ledger after, daily budgets, the per-user active cap, fair shares between users, Stop all."""

from __future__ import annotations

import concurrent.futures
import json
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from mv import audio, flavors, jobs
from mv.models import (
    ACTIVE_STATUSES,
    CharacterImage,
    Clip,
    JobStatus,
    Project,
    SceneWriting,
)
from mv.pipeline import projects, rendering, spending
from tests.factories import advance, finished_clip, written_project
from tests.database import closes_its_connections

VEO = "google/veo-3.1"
DUMMY = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


def post(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json")


def ledger(project: Project) -> list:
    return [*Clip.objects.filter(scene__project=project), *SceneWriting.objects.filter(project=project)]


@pytest.fixture
def song(user, song_mp3):
    return audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))


def test_the_estimate_for_a_project_equals_its_ledger_afterwards(fake_replicate, user, song):
    default = flavors.resolve("default")
    project = projects.create_project(owner=user, video_description="a lighthouse keeper sings", flavor=default,
                                      number_of_scenes=3, audio_track=song, song_end=24.0)
    lipsync_seconds = [8.0]  # scene 1's slot of the song
    estimate = spending.plan_estimate(default, scenes=3, lipsync_seconds=lipsync_seconds)
    projects.start_project(project)  # immediate tasks: scenes, then every clip, on the fake
    scene = project.scenes.get(position=0)
    rendering.regenerate_scene(scene, owner=user, lipsync=True)

    rows = ledger(project)
    assert all(r.status == JobStatus.SUCCEEDED for r in rows) and len(rows) == 5  # 1 writing, 3 clips, 1 lipsync
    assert all(r.cost_usd is not None for r in rows)
    billed = {r.pk: r.billed_units for r in rows}
    clips = [r for r in rows if isinstance(r, Clip)]
    # Clips and the lipsync: billed on the seconds measured from the fake's real files, at
    # the same prices, to the micro-dollar.
    assert sorted(billed[c.pk]["seconds"] for c in clips) == pytest.approx([8.0] * 4, abs=0.05)
    by_kind = {item.kind: item.subtotal for item in estimate.items}
    video = sum((c.cost_usd for c in clips if c.kind == Clip.Kind.GENERATED), Decimal(0))
    lipsync = sum((c.cost_usd for c in clips if c.kind == Clip.Kind.LIPSYNC), Decimal(0))
    assert (video, lipsync) == (by_kind["video_with_audio"], by_kind["lipsync"])
    # The scene writer's tokens as the fake counted them: within the estimate, which prices
    # every output token it may write.
    writing = next(r for r in rows if isinstance(r, SceneWriting))
    assert writing.billed_units["reported"]["output_token_count"] == writing.billed_units["output_tokens"] > 0
    assert 0 < writing.cost_usd <= by_kind["scene_writing"]
    project.refresh_from_db()
    # In all: the estimate to the micro-dollar, less the scene writer's unused tokens (< 1¢).
    assert project.spend_usd == video + lipsync + writing.cost_usd
    assert project.spend_usd == estimate.exact_usd - (by_kind["scene_writing"] - writing.cost_usd)
    assert video + lipsync == Decimal("10.264")  # 3 × 8 s × $0.40 + 8 s × $0.083
    for row in rows:  # each row's own estimate, stored before it started, matches its ledger
        assert row.estimated_cost_usd is not None
        assert row.cost_usd == row.estimated_cost_usd if isinstance(row, Clip) else row.cost_usd <= row.estimated_cost_usd


def test_a_failed_prediction_records_what_replicate_reported_and_costs_nothing(fake_replicate, user):
    fake_replicate.fail_next(VEO)
    clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="doomed")
    clip.refresh_from_db()
    assert clip.status == JobStatus.FAILED
    assert clip.cost_usd == 0 and clip.billed_units["seconds"] == 0
    assert clip.billed_units["reported"]["predict_time"] == pytest.approx(fake_replicate.latency)


def test_the_local_renderer_costs_nothing_in_the_ledger(user):
    clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="free")
    clip.refresh_from_db()
    assert clip.status == JobStatus.SUCCEEDED and clip.cost_usd == 0 and clip.billed_units["seconds"] > 0
    assert clip.estimated_cost_usd == 0


def test_every_paid_endpoint_answers_with_its_estimate(fake_replicate, alice_client, song):
    body = post(alice_client, "/api/mv/create_scenes", {"idea": "x", "number_of_scenes": 12, "wait": 30}).json()
    assert body["estimated_cost_usd"] == 38.40  # 12 clips × 8 s × $0.40 (+ scene writing, < 1¢)
    assert "12 clips × 8 s with audio at veo-3.1" in body["summary"]
    video = post(alice_client, "/api/mv/generate_video", {"prompt": "a red car", "duration": 4, "wait": 30}).json()
    assert video["estimated_cost_usd"] == 1.6 and video["cost_usd"] == pytest.approx(1.6, abs=0.02)
    images = post(alice_client, "/api/mv/generate_character_reference",
                  {"character_description": "a singer", "num_images": 2, "wait": 30}).json()
    assert images["estimated_cost_usd"] == 0.08 and [i["cost_usd"] for i in images["images"]] == [0.04, 0.04]
    sync = post(alice_client, "/api/mv/lipsync", {"video_id": video["video_id"], "audio_id": str(song.pk),
                                                  "start_time": 0, "end_time": 4, "wait": 30}).json()
    assert sync["estimated_cost_usd"] == pytest.approx(4 * 0.083)


def test_a_request_over_budget_creates_no_prediction_and_no_row(fake_replicate, alice_client, settings):
    settings.MV_USER_DAILY_BUDGET_USD = 5.0
    first = post(alice_client, "/api/mv/generate_video", {"prompt": "one", "wait": 30})
    assert first.status_code == 200 and first.json()["cost_usd"] == pytest.approx(3.2, abs=0.02)
    creates = fake_replicate.creates()
    refused = post(alice_client, "/api/mv/generate_video", {"prompt": "two", "wait": 30})
    assert refused.status_code == 402
    body = refused.json()
    assert body["error"] == "budget_exceeded"
    assert "$3.20" in body["message"] and "$1.80 left" in body["message"] and "$5.00" in body["message"]
    assert fake_replicate.creates() == creates and Clip.objects.count() == 1
    images = post(alice_client, "/api/mv/generate_character_reference",
                  {"character_description": "a singer", "num_images": 4, "wait": 0})
    assert images.status_code == 200  # 4 × $0.04 fits in what is left
    scenes = post(alice_client, "/api/mv/create_scenes", {"idea": "still fits", "wait": 30})
    assert scenes.status_code == 200


def test_the_create_page_refuses_a_plan_over_budget_next_to_the_button(fake_replicate, alice_client, settings):
    settings.MV_USER_DAILY_BUDGET_USD = 10.0
    response = alice_client.post("/create/submit/", {"mode": "music_video", "config_flavor": "default",
                                                     "video_description": "too dear", "number_of_scenes": 4})
    assert response.status_code == 200
    assert "This would cost about $12.80; you have $10.00 left of today&#x27;s $10.00 budget." in response.content.decode()
    assert Project.objects.count() == 0 and SceneWriting.objects.count() == 0 and fake_replicate.creates() == 0


def test_regenerate_over_budget_shows_the_message_on_the_card(fake_replicate, alice_client, user, settings):
    project = written_project(user, scenes=1)
    scene = project.scenes.get()
    settings.MV_USER_DAILY_BUDGET_USD = 1.0
    response = alice_client.post(f"/scenes/{scene.pk}/regenerate/", {}, HTTP_HX_REQUEST="true")
    assert "you have $1.00 left" in response.content.decode() and Clip.objects.count() == 0


def test_buttons_and_the_create_page_show_prices(fake_replicate, alice_client, user, song):
    project = written_project(user, scenes=2, audio_track=song)
    finished_clip(project.scenes.get(position=0))
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert "Regenerate · $3.20" in page and 'data-lipsync="Regenerate with lipsync · $0.66"' in page
    assert "Generate clip · $3.20" in page and "Spent so far: <strong" in page
    create = alice_client.get("/create/").content.decode()
    assert "Generate 4 reference images · <span id=\"images-price\">$0.16</span>" in create
    live = alice_client.get("/create/estimate/?config_flavor=default&number_of_scenes=12", HTTP_HX_REQUEST="true")
    text = live.content.decode()
    assert "≈ $38.40 — 12 clips × 8 s with audio at veo-3.1 ($0.40/s)" in text
    assert 'id="images-price" hx-swap-oob="true">$0.16<' in text
    bad = alice_client.get("/create/estimate/?number_of_scenes=999", HTTP_HX_REQUEST="true").content.decode()
    assert "choose between 1 and 450 scenes" in bad  # a 30 min song (MV_MAX_SONG_SECONDS) in 4 s clips


def test_the_local_renderer_says_it_is_free(alice_client):
    live = alice_client.get("/create/estimate/?number_of_scenes=3", HTTP_HX_REQUEST="true").content.decode()
    assert "$0.00 — local preview: free" in live


def test_spend_shows_in_the_api_the_project_list_and_the_admin(fake_replicate, alice_client, user, admin_client):
    project = written_project(user, scenes=2)
    for scene in project.scenes.all():
        rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="p", scene=scene)
    assert alice_client.get(f"/api/mv/projects/{project.pk}").json()["spend_usd"] == 6.4
    listing = alice_client.get("/").content.decode()
    assert '<span class="project-spend">$6.40</span>' in listing
    spend_page = admin_client.get("/admin/mv/project/spend/").content.decode()
    assert "alice" in spend_page and "$6.40" in spend_page
    assert "Spend per user per day" in admin_client.get("/admin/mv/project/").content.decode()


def test_the_active_cap_holds_under_50_concurrent_requests(fake_replicate, user, settings):
    """50 generate_video calls at once, then 50 workers stepping them at once: never more
    than MV_USER_MAX_ACTIVE_PREDICTIONS of the user's predictions start."""
    from django.test import Client

    settings.TASKS = DUMMY
    settings.MV_USER_MAX_ACTIVE_PREDICTIONS = 3
    fake_replicate.hold(VEO)

    def request(i: int) -> int:
        client = Client()
        client.force_login(user)
        return post(client, "/api/mv/generate_video", {"prompt": f"clip {i}", "wait": 0}).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        assert set(pool.map(closes_its_connections(request), range(50))) == {202}
    clips = list(Clip.objects.all())
    assert len(clips) == 50
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        list(pool.map(closes_its_connections(advance), clips))
    assert Clip.objects.filter(started_at__isnull=False).count() == 3 and fake_replicate.creates() == 3
    assert Clip.objects.filter(status=JobStatus.QUEUED, started_at__isnull=True).count() == 47  # waiting their turn


def test_user_bs_first_clip_starts_within_one_clips_turn_while_user_a_has_40_queued(fake_replicate, user, settings):
    """The slot A's finished clip frees is granted to B's first clip by that finish, in its
    transaction; the clips still waiting do not poll (their chains end until a grant)."""
    settings.TASKS = DUMMY
    settings.MV_MAX_CONCURRENT_PREDICTIONS = 2
    fake_replicate.hold(VEO)
    default = flavors.resolve("default")
    bob = get_user_model().objects.create_user("bob2", "b@example.com", "pw-bob-123")
    a_clips = [rendering.request_clip(owner=user, flavor=default, prompt=f"a{i}") for i in range(40)]
    for clip in a_clips:  # each clip's first step: two are granted a slot and start, the rest wait
        advance(clip)
    b_clip = rendering.request_clip(owner=bob, flavor=default, prompt="b's first")
    b_clip.refresh_from_db()
    assert jobs.advance("clip", str(b_clip.pk), str(b_clip.poll_token)) is None  # no slot: its chain ends
    assert [c.pk for c in Clip.objects.filter(status=JobStatus.RUNNING).order_by("created_at")] == \
        [a_clips[0].pk, a_clips[1].pk]
    assert not Clip.objects.filter(status=JobStatus.QUEUED).exclude(granted_at=None).exists()

    fake_replicate.release(prediction_id=Clip.objects.get(pk=a_clips[0].pk).prediction_id)
    token = b_clip.poll_token
    assert advance(a_clips[0])  # one of A's clips finishes: its finish grants the slot it frees
    b_clip.refresh_from_db()
    assert b_clip.granted_at is not None and b_clip.poll_token != token  # granted to B, its chain started
    assert list(Clip.objects.filter(status=JobStatus.QUEUED).exclude(granted_at=None)) == [b_clip]
    assert not advance(b_clip)  # that chain's first step starts it
    b_clip.refresh_from_db()
    assert b_clip.status == JobStatus.RUNNING
    assert Clip.objects.filter(owner=user, status=JobStatus.RUNNING).count() == 1  # A got no extra slot
    assert fake_replicate.creates() == 3


def test_a_cancelled_running_clip_grants_its_slot_and_a_cancelled_waiting_one_takes_none(fake_replicate, user,
                                                                                         settings):
    settings.TASKS = DUMMY
    settings.MV_MAX_CONCURRENT_PREDICTIONS = 1
    fake_replicate.hold(VEO)
    default = flavors.resolve("default")
    first, second, third = (rendering.request_clip(owner=user, flavor=default, prompt=f"c{i}") for i in range(3))
    for clip in (first, second, third):
        advance(clip)
    assert [c.status for c in Clip.objects.order_by("created_at")] == [JobStatus.RUNNING, JobStatus.QUEUED,
                                                                        JobStatus.QUEUED]
    rendering.cancel_clip(Clip.objects.get(pk=second.pk))  # waiting: frees nothing, grants nothing new
    assert not Clip.objects.filter(status=JobStatus.QUEUED).exclude(granted_at=None).exists()
    rendering.cancel_clip(Clip.objects.get(pk=first.pk))  # running: its slot goes to the next waiting clip
    third.refresh_from_db()
    assert third.granted_at is not None
    advance(third)
    third.refresh_from_db()
    assert third.status == JobStatus.RUNNING and fake_replicate.creates() == 2


def test_stop_all_cancels_queued_and_running_predictions_and_keeps_finished_clips(fake_replicate, alice_client, user,
                                                                                  settings):
    settings.TASKS = DUMMY
    settings.MV_MAX_CONCURRENT_PREDICTIONS = 2
    fake_replicate.hold(VEO)
    project = written_project(user, scenes=4)
    scenes = list(project.scenes.order_by("position"))
    kept = finished_clip(scenes[0])
    clips = [rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="p", scene=s)
             for s in scenes[1:]]
    for clip in clips:
        advance(clip)
    running = list(Clip.objects.filter(status=JobStatus.RUNNING))
    assert len(running) == 2 and Clip.objects.filter(status=JobStatus.QUEUED).count() == 1

    response = alice_client.post(f"/api/mv/projects/{project.pk}/stop")
    assert response.status_code == 200 and response.json()["stopped"] == 3
    assert not Clip.objects.filter(status__in=ACTIVE_STATUSES).exists()
    assert all(fake_replicate.finished(c.prediction_id) for c in running)
    assert {p.status(0) for p in fake_replicate.predictions.values()} == {"canceled"}
    kept.refresh_from_db()
    scenes[0].refresh_from_db()
    assert kept.status == JobStatus.SUCCEEDED and scenes[0].current_clip_id == kept.pk
    assert all(c.cost_usd == 0 for c in Clip.objects.filter(status=JobStatus.CANCELED))


def test_stop_all_on_the_page_and_for_other_users(alice_client, user, other_user, settings):
    settings.TASKS = DUMMY
    project = written_project(user, scenes=1)
    rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="p", scene=project.scenes.get())
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert 'id="stop-all"' in page
    theirs = written_project(other_user, scenes=1)
    assert alice_client.post(f"/quick-gen/{theirs.pk}/stop/").status_code == 404
    assert alice_client.post(f"/api/mv/projects/{theirs.pk}/stop").status_code == 404
    assert alice_client.get(f"/quick-gen/{project.pk}/stop/").status_code == 405
    response = alice_client.post(f"/quick-gen/{project.pk}/stop/", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == f"/quick-gen/{project.pk}/"
    assert Clip.objects.get().status == JobStatus.CANCELED
    assert 'id="stop-all"' not in alice_client.get(f"/quick-gen/{project.pk}/").content.decode()


def test_spent_today_counts_running_work_at_its_estimate(fake_replicate, user, settings):
    settings.TASKS = DUMMY
    rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="p")
    CharacterImage.objects.create(owner=user, description="d", cost_usd=Decimal("0.04"), status=JobStatus.SUCCEEDED)
    assert spending.spent_today(user) == Decimal("3.24")


def test_a_finished_clips_poll_updates_spent_so_far_and_hides_stop_all(alice_client, user):
    project = written_project(user, scenes=1)
    clip = finished_clip(project.scenes.get())
    Clip.objects.filter(pk=clip.pk).update(cost_usd=Decimal("3.2"))
    response = alice_client.get(f"/scenes/{clip.scene_id}/clip/status/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'id="project-costs" hx-swap-oob="true"' in html and "Spent so far: <strong" in html and "$3.20" in html
    assert 'id="stop-all"' not in html


def test_rewriting_a_prompt_over_budget_says_so_under_the_prompt(fake_replicate, alice_client, user, settings):
    project = written_project(user, scenes=1)
    scene = project.scenes.get()
    settings.MV_USER_DAILY_BUDGET_USD = 0.0
    response = alice_client.post(f"/scenes/{scene.pk}/rewrite/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "you have $0.00 left of today" in response.content.decode()
    assert not SceneWriting.objects.filter(scene=scene).exists() and fake_replicate.creates() == 0


# --- every kind of paid prediction through one gate (issue 20) -------------------------------------

WHISPER = "openai/whisper"


def over_budget(user, settings, budget: float = 1.0) -> None:
    """Today's budget spent: a finished image that cost all of it."""
    settings.MV_USER_DAILY_BUDGET_USD = budget
    CharacterImage.objects.create(owner=user, description="d", cost_usd=Decimal(str(budget)),
                                  status=JobStatus.SUCCEEDED, provider="replicate")


def test_an_upload_over_budget_starts_no_transcription_and_the_song_card_and_api_say_why(
        fake_replicate, alice_client, user, song_mp3, settings):
    """The review's case: over budget, generate_video is a 402, and an upload used to start a
    paid Whisper prediction anyway. Now the upload is kept, nothing is paid for, and the
    card and the analysis API say the lyrics were not transcribed; pasting still works."""
    from mv.models import AudioTrack, LyricsTranscription

    over_budget(user, settings)
    assert post(alice_client, "/api/mv/generate_video", {"prompt": "x", "wait": 0}).status_code == 402
    with open(song_mp3, "rb") as fh:
        response = alice_client.post("/api/audio/upload", {"file": fh})
    assert response.status_code == 201
    track = AudioTrack.objects.get(pk=response.json()["audio_id"])
    assert track.analysis_status == AudioTrack.AnalysisStatus.READY  # analysed (free), then the gate said no
    assert not LyricsTranscription.objects.exists() and fake_replicate.creates(WHISPER) == 0
    body = alice_client.get(f"/api/audio/{track.pk}/analysis").json()
    assert body["lyrics_status"] == "refused"
    assert body["lyrics_message"].startswith("lyrics were not transcribed: over today's budget (this would cost about")
    assert "$0.00 left of today's $1.00 budget" in body["lyrics_message"]
    card = alice_client.get(f"/songs/{track.pk}/status/", headers={"HX-Request": "true"}).content.decode()
    assert "lyrics were not transcribed: over today&#x27;s budget" in card and "hx-trigger" not in card  # no polling
    pasted = alice_client.post(f"/songs/{track.pk}/lyrics/", {"lyrics": "one line\ntwo lines"},
                               headers={"HX-Request": "true"}).content.decode()
    assert "lyrics: 2 lines (pasted)" in pasted


def test_a_transcription_within_budget_is_estimated_and_counts_toward_the_budget(fake_replicate, user, song_mp3,
                                                                                   settings):
    from mv.models import LyricsTranscription

    settings.TASKS = DUMMY
    settings.MV_USER_DAILY_BUDGET_USD = 5.0
    track = new_song(user, song_mp3)
    row = songs_request(track)
    assert row is not None and row.estimated_cost_usd == costs_of_lyrics(track)
    assert spending.spent_today(user) == row.estimated_cost_usd  # under way: counted at its estimate
    assert LyricsTranscription.objects.count() == 1


def new_song(user, song_mp3):
    return audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))


def songs_request(track):
    from mv.pipeline import songs

    return songs.request_transcription(track)


def costs_of_lyrics(track) -> Decimal:
    from mv import costs

    return costs.estimate_lyrics(flavors.resolve("default"), track.duration).exact_usd


def test_lyrics_count_toward_the_per_user_active_cap_and_wait_their_turn(fake_replicate, user, song_mp3, settings):
    """With MV_USER_MAX_ACTIVE_PREDICTIONS=1 a running transcription holds the user's one turn:
    a clip waits; once the transcription finishes, the clip starts."""
    from mv.models import LyricsTranscription

    settings.TASKS = DUMMY
    settings.MV_USER_MAX_ACTIVE_PREDICTIONS = 1
    fake_replicate.hold(WHISPER)
    track = new_song(user, song_mp3)
    lyrics = songs_request(track)
    advance(lyrics)
    lyrics.refresh_from_db()
    assert lyrics.status == JobStatus.RUNNING
    clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="waits for the lyrics")
    advance(clip)
    clip.refresh_from_db()
    assert clip.status == JobStatus.QUEUED and clip.started_at is None and fake_replicate.creates(VEO) == 0
    fake_replicate.release(WHISPER)
    advance(lyrics)
    assert LyricsTranscription.objects.get().status == JobStatus.SUCCEEDED
    advance(clip)
    clip.refresh_from_db()
    assert clip.status == JobStatus.RUNNING and fake_replicate.creates(VEO) == 1
    # and the other way round: a running clip holds the turn, a transcription waits
    track2 = new_song(user, song_mp3)
    second = songs_request(track2)
    advance(second)
    second.refresh_from_db()
    assert second.status == JobStatus.QUEUED and second.started_at is None


def test_a_lipsync_of_a_millionth_of_a_second_over_budget_is_refused_and_priced_at_the_minimum(
        fake_replicate, alice_client, user, song_mp3, settings):
    """The review's case: a 0.000001 s lipsync skipped the budget (estimate $0) and was billed
    $0.664. It is priced at the model's minimum billed length, and refused over budget."""
    from mv import costs

    track = new_song(user, song_mp3)
    video = post(alice_client, "/api/mv/generate_video", {"prompt": "a singer", "duration": 4, "wait": 30}).json()
    default = flavors.resolve("default")
    least = costs.estimate_lipsync(default, [0.000001])
    assert least.exact_usd == costs.estimate_lipsync(default, [1]).exact_usd == Decimal("0.083")
    settings.MV_USER_DAILY_BUDGET_USD = float(spending.spent_today(user))  # nothing left
    creates = fake_replicate.creates()
    for _ in range(3):
        refused = post(alice_client, "/api/mv/lipsync", {"video_id": video["video_id"], "audio_id": str(track.pk),
                                                         "start_time": 1.0, "end_time": 1.000001, "wait": 0})
        assert refused.status_code == 402 and refused.json()["error"] == "budget_exceeded"
    assert fake_replicate.creates() == creates and Clip.objects.filter(kind=Clip.Kind.LIPSYNC).count() == 0


def test_a_zero_estimate_on_a_paid_provider_is_no_pass_once_nothing_is_left(fake_replicate, user, settings):
    from mv import costs
    from mv.errors import Refused

    over_budget(user, settings)
    with pytest.raises(Refused) as refused:
        spending.check_budget(user, costs.Estimate())  # paid, nothing priced
    assert refused.value.status == 402
    spending.check_budget(user, costs.free_estimate())  # the local renderer: free, always passes


@pytest.mark.parametrize("kind", ["clip", "lipsync", "images", "scene writing", "rewrite", "retry", "lyrics"])
def test_every_kind_of_paid_prediction_is_refused_over_budget_and_creates_nothing(
        fake_replicate, user, song_mp3, clip_mp4, settings, kind):
    from mv.errors import Refused
    from mv.models import LyricsTranscription
    from mv.pipeline import characters

    settings.TASKS = DUMMY
    default = flavors.resolve("default")
    track = new_song(user, song_mp3)
    project = written_project(user, scenes=1, audio_track=track)
    scene = project.scenes.get()
    done = finished_clip(scene, clip_mp4)
    failed = Clip.objects.create(owner=user, scene=scene, provider="replicate", status=JobStatus.FAILED,
                                 input={"duration": 4, "generate_audio": False}, config_flavor="default")
    over_budget(user, settings)
    before = (Clip.objects.count(), CharacterImage.objects.count(), SceneWriting.objects.count(),
              LyricsTranscription.objects.count(), fake_replicate.creates())
    actions = {
        "clip": lambda: rendering.request_clip(owner=user, flavor=default, prompt="x"),
        "lipsync": lambda: rendering.request_lipsync(owner=user, flavor=default, source=done, audio_track=track,
                                                     start_time=0, end_time=2),
        "images": lambda: characters.request_character_images(owner=user, flavor=default, description="a fox",
                                                              num_images=2),
        "scene writing": lambda: projects.request_scenes(project, default),
        "rewrite": lambda: projects.rewrite_scene(scene, default),
        "retry": lambda: rendering.retry_clip(failed),
    }
    if kind == "lyrics":
        assert songs_request(track) is None
        track.refresh_from_db()
        assert track.lyrics_state()[0] == "refused"
    else:
        with pytest.raises(Refused) as refused:
            actions[kind]()
        assert refused.value.status == 402 and refused.value.code == "budget_exceeded"
    after = (Clip.objects.count(), CharacterImage.objects.count(), SceneWriting.objects.count(),
             LyricsTranscription.objects.count(), fake_replicate.creates())
    assert after == before


def test_a_new_kind_of_prediction_rides_on_the_gate_by_saying_what_it_costs(fake_replicate, user, settings):
    """The gate is the rows' own: a kind with no estimate is refused on a paid provider rather
    than run unpriced, and any kind's estimate is checked against the budget the same way."""
    from mv.errors import Refused
    from mv.models import Prediction
    from mv.models.money import PaidWork

    class Unpriced(PaidWork):
        provider, config_flavor = "replicate", "default"
        owner = user

    with pytest.raises(Refused) as refused:
        Unpriced().estimate()
    assert refused.value.code == "no_price"
    assert all("paid_estimate" in vars(kind) for kind in Prediction.kinds()), \
        [k.__name__ for k in Prediction.kinds() if "paid_estimate" not in vars(k)]


def test_a_row_made_without_the_gate_is_priced_and_budget_checked_before_it_starts(fake_replicate, user, song_mp3,
                                                                                  settings):
    """Code that creates a paid row with objects.create (skipping admit) still cannot spend:
    the row is priced and checked against today's budget when it would start."""
    from mv.models import LyricsTranscription

    settings.TASKS = DUMMY
    track = new_song(user, song_mp3)
    within = LyricsTranscription.objects.create(track=track, provider="replicate", config_flavor="default",
                                                model=WHISPER)
    advance(within)
    within.refresh_from_db()
    assert within.estimated_cost_usd == costs_of_lyrics(track) and within.status == JobStatus.RUNNING
    over_budget(user, settings)
    over = LyricsTranscription.objects.create(track=track, provider="replicate", config_flavor="default", model=WHISPER)
    creates = fake_replicate.creates()
    ended = []
    jobs.finished.connect(lambda sender, row, **kw: ended.append(row.pk), weak=False, dispatch_uid="ended")
    try:
        advance(over)
    finally:
        jobs.finished.disconnect(dispatch_uid="ended")
    over.refresh_from_db()
    assert over.status == JobStatus.FAILED and "left of today's" in over.error
    assert fake_replicate.creates() == creates
    assert ended == [over.pk]  # failed as a finish: what its end causes (a freed slot, the next step) happens
