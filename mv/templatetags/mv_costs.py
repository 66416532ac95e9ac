"""Prices and spending on the pages: a button's price, a project's "spent so far" and its
Stop all (the numbers come from mv.pipeline.spending; the markup is templates/mv/_costs.html)."""

from __future__ import annotations

from typing import Any

from django import template

from mv import costs, flavors, planning
from mv.models import Project, Scene
from mv.pipeline import spending
from mv.status import SceneState

register = template.Library()


@register.filter
def usd(amount: Any) -> str:
    """Money as shown: $14.40 (a sub-cent cost: < $0.01)."""
    return costs.format_usd(amount or 0)


@register.simple_tag
def regenerate_price(scene: Scene, lipsync: bool = False) -> str:
    """The price on a scene's Regenerate (or Generate clip, or Regenerate with lipsync) button."""
    return spending.price_label(spending.regenerate_estimate(scene, lipsync=lipsync))


@register.simple_tag
def images_price(flavor_name: str | None = None, count: int = 4) -> str:
    """The price on the create page's Generate reference images button."""
    name = flavor_name if flavor_name in flavors.names() else flavors.DEFAULT  # the form's value may be junk
    return spending.price_label(spending.images_estimate(flavors.resolve(name), count))


@register.inclusion_tag("mv/_costs.html#project-costs")
def project_costs(project: Project, states: list[SceneState], oob: bool = False) -> dict[str, Any]:
    """The project page's line: spent so far, and Stop all while anything is queued or running
    (read from the page's scene states: no query of its own). ``oob``: sent beside a swap of the
    studio, whose clips may have started or finished since the page was drawn."""
    running = project.scenes_status == Project.ScenesStatus.WRITING or any(
        s.active is not None or s.scene.prompt_status == Scene.PromptStatus.WRITING for s in states)
    scenes = [s.scene for s in states]
    trimmed = planning.trimmed_note(project.clip_seconds(scenes)) if scenes else ""
    return {"project": project, "spend": project.spend_usd, "running": running, "oob": oob, "trimmed": trimmed}
