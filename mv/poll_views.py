"""A scene card's clip status poll, kept to a fixed, small number of queries.

While the clip renders the poll reads the scene's clips (one query) and answers the small
status. Once it is done it reads the project's summary too (one more) and swaps the card's
clip section, its start frame line, its thumbnail and the spend, never the scene list; it
announces the finish (the counts and the banner ask again) and a new stitch with events
(HX-Trigger), on which the Full Video section fetches itself, so a playing video keeps
playing until then.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET
from django_htmx.http import HTMX_STOP_POLLING, reswap, retarget, trigger_client_event

from mv import status
from mv.models import Clip, Scene
from mv.views import QUICK_GEN, HtmxHttpRequest, _get_scene_for_user

NEW_STITCH_EVENT = "new-stitch"  # the Full Video section and the banner listen for it (hx-trigger ... from:body)
CLIP_FINISHED_EVENT = "clip-finished"  # the counts and the banner ("N scenes need a new clip") listen for it


@require_GET
@login_required
def clip_status(request: HtmxHttpRequest, pk: uuid.UUID) -> HttpResponse:
    clips = status.poll_clips(request.user, pk)
    if not clips:  # only a rendering clip polls, so: an unknown scene (404), or its clips are gone
        return _finished(request, _get_scene_for_user(request, pk), [])
    state = status.scene_state(clips[0].scene, clips)
    if state.active is not None:
        return render(request, f"{QUICK_GEN}#clip-status", {"s": state})
    # Finished: what its finish caused (a re-stitch) committed with it, so the summary read
    # next announces it.
    return _finished(request, clips[0].scene, clips)


def _finished(request: HtmxHttpRequest, scene: Scene, clips: list[Clip]) -> HttpResponse:
    """The card's clip section, plus its start frame line, thumbnail and the spend out of band
    (the counts ask again on the finish event: the newest ask wins); 286 stops the poll."""
    project = status.poll_summary(scene.project_id)
    scene.project = project
    state = status.scene_state(scene, clips)  # none of its clips waits: its start frame is made
    oob = {"project": project, "oob": True}
    thumb = status.thumbnail(state, status.song_span(project), scene.position, project.scene_count)
    parts = [(f"{QUICK_GEN}#clip-section", {"s": state, "project": project}),
             (f"{QUICK_GEN}#scene-performer", {**oob, "s": state}),
             (f"{QUICK_GEN}#thumb", {**oob, "t": thumb}),
             ("mv/_costs.html#project-costs", {**oob, "spend": project.spend_usd,
                                               "running": bool(project.generating or project.writing)})]
    html = "".join(render_to_string(name, context, request=request) for name, context in parts)
    response = HttpResponse(html, status=HTMX_STOP_POLLING)
    retarget(response, f"#clip-{scene.pk}")
    reswap(response, "outerHTML")
    shown = request.GET.get("shown_stitch", "")
    trigger_client_event(response, CLIP_FINISHED_EVENT)  # the counts and the banner ask again
    if project.latest_stitch_id is not None and str(project.latest_stitch_id) != shown:
        trigger_client_event(response, NEW_STITCH_EVENT)
    return response
