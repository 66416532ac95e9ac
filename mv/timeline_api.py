"""The timeline edits as JSON endpoints (the page's Edit timeline menu and its "Bring the
video up to date" button), under /api/mv/ beside mv.api and in its style.

Each endpoint parses its body with a JSON form, calls the same use case in
mv.pipeline.timeline the page calls, and answers the project's ``to_dict()`` after the
edit with the ids of the scenes that now need a new clip (an added or copied scene also as
"scene"). Errors are mv.api's: 404 for an unknown scene or project, or another user's
(looked up before the body is read, so any body gets it), 400 for bad input or a refused edit.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, JsonResponse

from mv.api import _answer, _owned, _valid
from mv.apiutils import api_endpoint
from mv.errors import Refused
from mv.forms.api import BoundaryForm, MoveForm, RefreshForm, SplitForm
from mv.forms.fields import JsonForm
from mv.models import Project, Scene
from mv.pipeline import timeline


def _project(project_id: uuid.UUID, **extra: Any) -> dict[str, Any]:
    """The project as it is now, and the scenes that need a new clip (none yet, or one that
    no longer fits their slot): those bring_up_to_date renders."""
    project = Project.objects.get(pk=project_id)
    return project.to_dict() | {"scenes_to_render": [str(s.pk) for s in timeline.out_of_date(project)]} | extra


def _scene(request: HttpRequest, scene_id: uuid.UUID) -> Scene:
    return _owned(Scene, request, scene_id)


@api_endpoint("POST")
def split_scene(request: HttpRequest, scene_id: uuid.UUID) -> JsonResponse:
    """Add a scene: cut this one in two at the beat nearest "at" (its middle without "at")."""
    scene = _scene(request, scene_id)
    added = timeline.split_scene(scene, _valid(SplitForm, request).cleaned_data.get("at"))
    return JsonResponse(_project(added.project_id, scene=added.to_dict()), status=201)


@api_endpoint("POST")
def duplicate_scene(request: HttpRequest, scene_id: uuid.UUID) -> JsonResponse:
    scene = _scene(request, scene_id)
    _valid(JsonForm, request)  # the body, if any, must still be a JSON object
    copy = timeline.duplicate_scene(scene)
    return JsonResponse(_project(copy.project_id, scene=copy.to_dict()), status=201)


@api_endpoint("POST")
def delete_scene(request: HttpRequest, scene_id: uuid.UUID) -> JsonResponse:
    """Its clips stay stored; the scene before it (or after it, for the first) takes its time."""
    scene = _scene(request, scene_id)
    _valid(JsonForm, request)
    timeline.delete_scene(scene)
    return JsonResponse(_project(scene.project_id))


@api_endpoint("POST")
def move_scene(request: HttpRequest, scene_id: uuid.UUID) -> JsonResponse:
    """Reorder: every scene keeps its length."""
    scene = _scene(request, scene_id)
    position = _valid(MoveForm, request).cleaned_data["position"]
    count = scene.project.scenes.count()
    if position >= count:
        raise Refused("bad_position", f"position must be between 0 and {count - 1}.",
                       {"position": position, "scene_count": count})
    return JsonResponse(_project(timeline.move_scene(scene, position).project_id))


@api_endpoint("POST")
def move_boundary(request: HttpRequest, scene_id: uuid.UUID) -> JsonResponse:
    """Move where the scene starts (and the one before it ends), snapped to a beat."""
    scene = _scene(request, scene_id)
    start = _valid(BoundaryForm, request).cleaned_data["start"]
    return JsonResponse(_project(timeline.move_boundary(scene, start).project_id))


@api_endpoint("POST")
def bring_up_to_date(request: HttpRequest, project_id: uuid.UUID) -> JsonResponse:
    """The page's one button: render every out-of-date scene for its slot; the full video is
    re-stitched once they are in. 400 up_to_date when there is nothing to do."""
    project = _owned(Project, request, project_id)
    data = _valid(RefreshForm, request).cleaned_data
    clips = timeline.refresh(project, request.api_user)
    return _answer(clips, lambda: _project(project.pk, video_ids=[str(c.pk) for c in clips]), data.get("wait"))
