"""Lipsync on the voice alone: a song is separated once, the first time a lipsync needs it
(the flavor's ``stems_model``), and every lipsync of it is cut from the stored vocal stem.
Without a separation model (the local renderer, or a flavor without one) lipsync gets the
full mix, and says so."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from mv import costs, tasks
from mv.flavors import Flavor
from mv.models import ACTIVE_STATUSES, AudioTrack, JobStatus, VocalStem
from mv.pipeline import spending
from mv.providers import Provider

MIX_OFFLINE = "Lipsync on the full mix: the song cannot be separated here (no separation model)."
MIX_FAILED = "Lipsync on the full mix: the song's vocals could not be separated."


def usable_stem(track: AudioTrack) -> VocalStem | None:
    """The song's vocal stem, made or being made (None: never asked, or it failed)."""
    return (track.stems.filter(status__in=(*ACTIVE_STATUSES, JobStatus.SUCCEEDED))
            .exclude(status=JobStatus.SUCCEEDED, file="").order_by("-created_at").first())


def plan(track: AudioTrack, flavor: Flavor, provider: Provider) -> tuple[dict[str, Any], costs.Estimate]:
    """What a lipsync's input says about its voice, and what a first separation adds to its price."""
    if not provider.separates_stems(flavor):
        return {"audio_source": "mix", "audio_note": MIX_OFFLINE}, costs.Estimate()
    stem = usable_stem(track)
    if stem is not None:
        return {"vocals": str(stem.pk)}, costs.Estimate()
    return {"vocals": "new"}, spending.stems_estimate(flavor, track.duration, provider)


def separate(track: AudioTrack, flavor: Flavor, provider: Provider) -> VocalStem:
    """The song's one separation (inside the caller's budget check): the track row is locked,
    so two lipsyncs asked at once still make one; followed before the lipsync that waits on it."""
    with transaction.atomic():
        AudioTrack.objects.select_for_update().filter(pk=track.pk).values_list("pk", flat=True).first()
        stem = usable_stem(track)
        if stem is not None:
            return stem
        stem = VocalStem.objects.create(
            track=track, provider=provider.name, model=provider.model_for(flavor, "stems"), config_flavor=flavor.name,
            estimated_cost_usd=spending.stems_estimate(flavor, track.duration, provider).exact_usd)
        tasks.follow(stem)
    return stem
