"""The pages' money views: the create page's live estimate and a project's Stop all
(the numbers come from mv.pipeline.spending, the markup is templates/mv/_costs.html)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from mv import flavors, planning
from mv.errors import Refused
from mv.forms.pages import PlanEstimateForm
from mv.models import AudioTrack, Project, get_owned
from mv.pipeline import projects, spending

COSTS = "mv/_costs.html"


def plan_estimate(data: Any, user: Any = None) -> dict[str, Any]:
    """The estimate for the create page's choices in ``data`` (flavor, scene count, and with
    one of ``user``'s songs chosen, its range planned as the project would be)."""
    form = PlanEstimateForm(data)
    if not form.is_valid():
        most = planning.max_scenes()
        return {"estimate": None, "estimate_error": f"choose between 1 and {most} scenes and a range in seconds to see the price"}
    choices = form.cleaned_data
    flavor = flavors.resolve(choices["config_flavor"] or flavors.DEFAULT)
    track = None
    if user is not None and choices["audio_track_id"]:
        track = AudioTrack.objects.visible_to(user).filter(pk=choices["audio_track_id"]).first()
    if track is not None:
        try:
            estimate = spending.song_estimate(track, flavor, start=choices["audio_start"], end=choices["song_end"],
                                              count=choices["number_of_scenes"])
        except Refused as exc:
            message = planning.range_message(track, choices["audio_start"]) if exc.code == "invalid_times" else exc.message
            return {"estimate": None, "estimate_error": message, "flavor_name": flavor.name}
        return {"estimate": estimate, "flavor_name": flavor.name}
    count = choices["number_of_scenes"] or int(
        flavor.get("parameters", "number_of_scenes", used_in="mv.cost_views: scene count in the estimate"))
    return {"estimate": spending.plan_estimate(flavor, scenes=count), "flavor_name": flavor.name}


@require_GET
@login_required
def create_estimate(request: HttpRequest) -> HttpResponse:
    """The create page's estimate again as its choices change, and the reference images' price."""
    context = plan_estimate(request.GET, request.user)
    flavor = flavors.resolve(context.get("flavor_name") or flavors.DEFAULT)
    context.update(oob=True, images_price=spending.price_label(spending.images_estimate(flavor, 4)))
    return render(request, f"{COSTS}#create-estimate", context)


@require_POST
@login_required
def project_stop(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Stop all: cancel the project's queued and running predictions; finished clips stay."""
    project = get_owned(Project, request.user, pk)
    projects.stop_project(project)
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(project.get_absolute_url())
    return redirect("quick_gen", pk=project.pk)
