"""What the pages show about a project: per-scene clip state and counts.

Built from a fixed number of queries whatever the number of scenes, so the quick-gen
page and its polls stay fast. A scene's slot of the song is its own (Scene.slot).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, cached_property

from django.db.models import Count, Exists, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from mv.models import ACTIVE_STATUSES, Clip, JobStatus, Project, Scene, SceneWriting, StartFrame, Stitch
from mv.music import Slot
from mv.providers import get_provider


@dataclass
class SceneState:
    scene: Scene
    current: Clip | None
    active: Clip | None  # the newest clip still queued or running
    failed: Clip | None  # the newest attempt, when it failed
    history: list[Clip] = field(default_factory=list)  # every other clip of the scene, newest first
    frames_in_making: frozenset[str] = frozenset()  # start frames its queued clip waits for

    @cached_property
    def pk(self) -> str:
        """The scene's id as text (a card names it some twenty times)."""
        return str(self.scene.pk)

    @cached_property
    def number(self) -> str:
        """The scene's number as text (numbers rendered by a template are localized, slowly)."""
        return str(self.scene.number)

    @cached_property
    def state(self) -> str:
        if self.active is not None:
            return "generating"
        if self.failed is not None:
            return "failed"
        return "ready" if self.current is not None else "waiting"

    @cached_property
    def slot(self) -> Slot | None:
        return self.scene.slot

    @cached_property
    def out_of_date(self) -> bool:
        """Its clip no longer covers its slot (after a timeline edit) and nothing is rendering."""
        return self.current is not None and self.active is None and not self.scene.fits(self.current)

    @cached_property
    def needs_clip(self) -> bool:
        """What "Bring the video up to date" renders (timeline.out_of_date, the API's
        scenes_to_render): nothing rendering, and no clip or one that no longer covers the slot."""
        return self.active is None and not self.scene.fits(self.current)

    @property
    def _start_frame(self) -> str:
        clip = self.active or self.current
        return str(clip.input.get("start_frame") or "") if clip is not None else ""

    @property
    def start_frame_id(self) -> str:
        """The start frame its latest clip starts from, once made ("" when none or not yet)."""
        frame = self._start_frame
        return "" if frame in self.frames_in_making else frame

    @property
    def start_frame_in_making(self) -> bool:
        """Its queued clip waits for its start frame (the card shows no picture of it yet)."""
        return bool(self._start_frame) and self._start_frame in self.frames_in_making

    @property
    def continues(self) -> bool:
        """Its latest clip starts from the previous shot's last frame."""
        clip = self.active or self.current
        return bool(clip is not None and clip.input.get("continue_from"))

    @property
    def voice_note(self) -> str:
        """What its latest lipsync was sent: the vocals, or the full mix and why."""
        clip = self.active or self.current
        if clip is None or clip.kind != Clip.Kind.LIPSYNC:
            return ""
        if clip.input.get("audio_note"):
            return clip.input["audio_note"]
        if clip.input.get("audio_source") == "vocals":
            return "Lipsync on the vocals (separated from the song)."
        return "Lipsync on the vocals, once the song is separated." if clip.input.get("vocals") else ""

    @property
    def reference_dropped(self) -> bool:
        """The video model could not take the character reference image for its latest clip."""
        clip = self.active or self.current
        return bool(clip is not None and clip.input.get("reference_dropped"))


def card_key(state: SceneState) -> tuple:
    """Everything a scene card shows, so an edit's answer swaps only the cards it changed."""
    scene = state.scene
    return (state.pk, scene.start, scene.end, scene.section, scene.description, scene.negative_description,
            scene.current_clip_id, getattr(state.active, "pk", None), getattr(state.failed, "pk", None),
            state.out_of_date, len(state.history))


def changed_places(before: list[SceneState], after: list[SceneState]) -> list[int]:
    """The places (0-based) whose card differs after an edit, among those that exist after it.
    A change in the number of scenes changes the last card (its "Later" button) too, and every
    card when it crosses one scene (their Delete buttons)."""
    if len(before) != len(after) and min(len(before), len(after)) <= 1:
        return list(range(len(after)))
    changed = {i for i, state in enumerate(after) if i >= len(before) or card_key(before[i]) != card_key(state)}
    if len(before) != len(after):
        changed |= {len(after) - 1, min(len(before), len(after)) - 1}
    return sorted(i for i in changed if 0 <= i < len(after))


def fingerprint(shown: object) -> str:
    """A short digest of what a polled fragment shows (its displayed states, not raw statuses:
    queued and running look alike): the fragment sends it with its poll, and an unchanged one
    is answered with 204 (mv.views._polled)."""
    return hashlib.blake2s(repr(shown).encode(), digest_size=8).hexdigest()


def video_key(video: dict) -> tuple:
    """What the Full Video section shows: it is swapped (restarting its player) only when this changes."""
    stitch, poster = video["stitch"], video["poster_clip"]
    return (getattr(stitch, "pk", None), getattr(stitch, "status", None), video["stitch_stale"],
            getattr(poster, "pk", None))


def to_render(states: list[SceneState]) -> int:
    """The banner's count: the scenes "Bring the video up to date" renders."""
    return sum(1 for s in states if s.needs_clip)


def stitch_is_current(stitch: Stitch, scenes: list[Scene]) -> bool:
    """Whether the stitch shows the scenes as they are: their current clips, in their order,
    each cut to its slot's length (a moved boundary changes no clip but two lengths)."""
    shown = [(clip, None if length is None else round(length, 3))
             for clip, length in stitch.items.order_by("position").values_list("clip_id", "length")]
    wanted = [(s.current_clip_id, round(s.slot.length, 3) if s.slot is not None else None) for s in scenes]
    if any(length is None for _, length in shown):  # stitched without slots: only the clips count
        return [clip for clip, _ in shown] == [clip for clip, _ in wanted]
    return shown == wanted


def full_video(project: Project, states: list[SceneState] | None = None) -> dict:
    """What the Full Video section shows: the latest stitch, its poster (the first frame of the
    video shown: its first clip's poster, whatever the scenes' order is now) and whether the stitch is older than the scenes (after an edit or a new clip)."""
    stitch = latest_stitch(project)
    if states is None:
        scenes = list(project.scenes.select_related("current_clip").order_by("position"))
    else:
        scenes = [s.scene for s in states]
    done = bool(stitch and stitch.status == JobStatus.SUCCEEDED)
    stale = done and not stitch_is_current(stitch, scenes)  # type: ignore[arg-type]
    first = stitch.items.select_related("clip").order_by("position").first() if done else None  # type: ignore[union-attr]
    ready = project.scenes_status == Project.ScenesStatus.READY and bool(scenes)
    video = {"stitch": stitch, "poster_clip": first.clip if first is not None and first.clip.poster else None,
             "stitch_stale": stale, "can_restitch": ready and all(s.current_clip_id for s in scenes),
             "has_lyrics": project.has_lyrics}
    shown = (stitch and stitch.shown_state, stale,
             getattr(video["poster_clip"], "pk", None), video["can_restitch"], video["has_lyrics"])
    return video | {"video_shown": fingerprint(shown)}


def studio_shown(project: Project, states: list[SceneState], video: dict) -> str:
    """What the studio shows while its plan is written (it polls then): the plan's state, the
    cards, the Full Video section and the spend line beside it."""
    return fingerprint((project.scenes_status, project.scenes_error, project.waiting_for_song,
                        [card_key(s) for s in states], video["video_shown"], project.spend_usd))


FAILED_STATUSES = (JobStatus.FAILED, JobStatus.CANCELED)  # a scene whose newest attempt ended so is "failed"


def plan_pending(project: Project) -> bool:
    """Whether the studio section waits on the scene plan (and polls): it is being written.
    Once it reads written, the clips its finish started are there too (one transaction)."""
    return project.scenes_status == Project.ScenesStatus.WRITING


def frames_in_making(clips: Iterable[Clip]) -> frozenset[str]:
    """The start frames that queued clips wait for and that are not made yet, so no card asks
    for a picture that is not there (one query, none when no queued clip starts from a frame)."""
    wanted = {str(c.input["start_frame"]) for c in clips if c.status == JobStatus.QUEUED and c.input.get("start_frame")}
    if not wanted:
        return frozenset()
    made = StartFrame.objects.filter(pk__in=wanted, status=JobStatus.SUCCEEDED).exclude(file="")
    return frozenset(wanted - {str(pk) for pk in made.values_list("pk", flat=True)})


def scene_state(scene: Scene, clips: list[Clip], making: frozenset[str] = frozenset()) -> SceneState:
    """clips: this scene's clips, newest first; making: `frames_in_making` of them."""
    active = next((c for c in clips if c.status in ACTIVE_STATUSES), None)
    newest = clips[0] if clips else None
    failed = newest if newest is not None and newest.status in FAILED_STATUSES else None
    current = next((c for c in clips if c.pk == scene.current_clip_id), None)
    history = [c for c in clips if c.pk != scene.current_clip_id and c.status == JobStatus.SUCCEEDED]
    return SceneState(scene=scene, current=current, active=active, failed=failed, history=history,
                      frames_in_making=making)


def _with_rewrites(scenes):
    return scenes.prefetch_related(
        Prefetch("rewrites", queryset=SceneWriting.objects.order_by("-created_at"), to_attr="newest_rewrites"))


def project_states(project: Project, *, frames: bool = True) -> list[SceneState]:
    """Every scene's state; ``frames=False`` skips which start frames are still being made (for
    answers that show no start frame)."""
    scenes = list(_with_rewrites(project.scenes.order_by("position")))
    by_scene: dict = defaultdict(list)
    clips = Clip.objects.filter(scene__in=scenes).defer("prompt", "negative_prompt").order_by("-created_at")
    for clip in clips:  # the page shows neither a clip's prompt nor its parent
        by_scene[clip.scene_id].append(clip)
    making = frames_in_making(c for scene_clips in by_scene.values() for c in scene_clips) if frames else frozenset()
    return [scene_state(scene, by_scene.get(scene.pk, []), making) for scene in scenes]


def poll_clips(user, scene_pk) -> list[Clip]:
    """A scene's clips, newest first, each with its scene: all a status poll reads while its
    clip renders (one query; empty for an unknown scene, another user's, or one with no clip)."""
    return list(Clip.objects.filter(scene_id=scene_pk, scene__project__in=Project.objects.visible_to(user))
                .select_related("scene").defer("prompt", "negative_prompt").order_by("-created_at"))


def _count(scenes: QuerySet[Scene]) -> Coalesce:
    counted = scenes.order_by().values("project").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted[:1], output_field=IntegerField()), Value(0))


def poll_summary(project_pk) -> Project:
    """The project with what a finished clip's poll shows besides the card, in one query: its
    song, its spend, whether anything still runs, its number of scenes and its latest stitch."""
    return _summaries().filter(pk=project_pk).get()


@cache
def _summaries() -> QuerySet[Project]:
    """Built once: resolving these nested subqueries costs more than running them."""
    scenes = Scene.objects.filter(project=OuterRef("pk"))
    return Project.objects.select_related("audio_track").with_spend().annotate(
        generating=Exists(Clip.objects.filter(scene__project=OuterRef("pk"), status__in=ACTIVE_STATUSES)),
        scene_count=_count(scenes),
        writing=Exists(SceneWriting.objects.filter(project=OuterRef("pk"), status__in=ACTIVE_STATUSES)),
        latest_stitch_id=Subquery(Stitch.objects.filter(project=OuterRef("pk")).order_by("-created_at").values("pk")[:1]),
    )


def single_state(scene: Scene, *, frames: bool = False) -> SceneState:
    """One scene's state; with ``frames``, which start frame its queued clip still waits for
    (for answers that show the start frame line)."""
    clips = list(Clip.objects.filter(scene=scene).select_related("parent").order_by("-created_at"))
    return scene_state(scene, clips, frames_in_making(clips) if frames else frozenset())


def counts(states: list[SceneState]) -> dict[str, int]:
    result = {"generating": 0, "ready": 0, "failed": 0}
    for state in states:
        if state.state in result:
            result[state.state] += 1
    return result


def latest_stitch(project: Project) -> Stitch | None:
    return project.stitches.order_by("-created_at").first()


def song_span(project: Project) -> tuple[float, float] | None:
    """The part of the time line the timeline shows: the whole song (None without one)."""
    track = project.audio_track
    return (0.0, track.duration) if track and track.duration else None


def thumbnails(states: list[SceneState], song: tuple[float, float] | None) -> list[dict]:
    """One thumbnail per scene for the timeline strip: where it sits (percent of the song
    range, or equal widths without a song) and what state it is in."""
    timed = song is not None and all(s.slot is not None for s in states)
    return [thumbnail(s, song if timed else None, i, len(states)) for i, s in enumerate(states)]


def thumbnail(state: SceneState, song: tuple[float, float] | None, index: int, total: int) -> dict:
    """One scene's thumbnail: at its time in the song, else the index-th of `total` equal widths."""
    if song is None or state.slot is None:
        width = 100 / max(total, 1)
        return {"s": state, "left": _pct(index * width), "width": _pct(width)}
    start, end = song
    span = (end - start) or 1.0
    return {"s": state, "left": _pct((state.slot.start - start) / span * 100),
            "width": _pct(state.slot.length / span * 100)}


def _pct(value: float) -> str:
    """A percentage for an SVG attribute, as text (as few digits as needed)."""
    return f"{round(value, 3):g}"


def marks(analysis: dict, song: tuple[float, float]) -> dict[str, list]:
    """Section bands and beat ticks (percent of the song range) from a track's analysis."""
    start, end = song
    span = (end - start) or 1.0

    def pct(t: float) -> float:
        return round((min(max(t, start), end) - start) / span * 100, 3)

    sections = [{"left": pct(s["start"]), "width": round(pct(s["end"]) - pct(s["start"]), 3), "label": s["label"]}
                for s in analysis.get("sections") or [] if s["end"] > start and s["start"] < end]
    beats = [pct(b) for b in analysis.get("beats") or [] if start < b < end]
    return {"sections": sections, "beats": beats}


def boundaries(states: list[SceneState], duration: float) -> list[float]:
    """Scene boundaries as percentages of the song, for the waveform picture."""
    if not duration:
        return []
    marks = [s.slot.start for s in states if s.slot] + ([states[-1].slot.end] if states and states[-1].slot else [])
    return [round(m / duration * 100, 3) for m in marks if 0 < m < duration]


def reference_note(project: Project) -> str:
    """Said on the cards when the video model cannot take the project's reference image
    for clips of its format and length (instead of dropping it silently)."""
    image = project.character_image
    if image is None or not image.file:
        return ""
    flavor = project.flavor
    seconds = float(flavor.video.duration)
    provider = get_provider()
    if provider.takes_reference_image(project.aspect_ratio, seconds, flavor):
        return ""
    if provider.takes_start_frame(flavor) and provider.makes_start_frames(flavor):
        return ""  # each scene starts from a start frame made from the picture
    return (f"The video model can't use the character reference image for {project.aspect_ratio} clips "
            f"of this length: the scene is made from its prompt alone.")
