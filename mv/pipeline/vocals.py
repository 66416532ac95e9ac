"""Lipsync on the voice alone: a song is separated once, the first time a lipsync needs it
(the flavor's ``stems_model``), and every lipsync of it is cut from the stored vocal stem.
Without a separation model (the local renderer, or a flavor without one) lipsync gets the
full mix, and says so."""

from __future__ import annotations

from typing import Any

from mv.flavors import Flavor
from mv.models import ACTIVE_STATUSES, AudioTrack, JobStatus, VocalStem
from mv.providers import Provider

MIX_OFFLINE = "Lipsync on the full mix: the song cannot be separated here (no separation model)."
MIX_FAILED = "Lipsync on the full mix: the song's vocals could not be separated."


def usable_stem(track: AudioTrack) -> VocalStem | None:
    """The song's vocal stem, made or being made (None: never asked, or it failed)."""
    return (track.stems.filter(status__in=(*ACTIVE_STATUSES, JobStatus.SUCCEEDED))
            .exclude(status=JobStatus.SUCCEEDED, file="").order_by("-created_at").first())


NEW = "new"  # a separation to make (admitted through the money gate with its lipsync)


def plan(track: AudioTrack, flavor: Flavor, provider: Provider) -> dict[str, Any]:
    """What a lipsync's input says about its voice (``NEW``: the song is separated first)."""
    if not provider.separates_stems(flavor):
        return {"audio_source": "mix", "audio_note": MIX_OFFLINE}
    stem = usable_stem(track)
    return {"vocals": str(stem.pk) if stem is not None else NEW}


def separation(track: AudioTrack, flavor: Flavor, provider: Provider) -> tuple[VocalStem, bool]:
    """The song's one separation, read under a lock on the track row (call it inside the
    transaction that admits the lipsync), so two lipsyncs asked at once still make one: the
    one made or being made (False), or a new one, not saved (True), for the caller to admit
    through the money gate with the lipsync that waits on it, and follow."""
    AudioTrack.objects.select_for_update().filter(pk=track.pk).values_list("pk", flat=True).first()
    stem = usable_stem(track)
    if stem is not None:
        return stem, False
    return VocalStem(track=track, provider=provider.name, model=provider.model_for(flavor, "stems"),
                     config_flavor=flavor.name), True
