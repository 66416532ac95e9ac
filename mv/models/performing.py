"""What a clip carries of the project's performer: the start frame it starts from (or the
previous shot's last frame), and for a lipsync the song's vocals its slice is cut from. A
clip waiting for either to be made does not poll; that row's finish starts it
(mv.pipeline.followups)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from django.db.models import Q

from mv import files, media
from mv.models.base import ACTIVE_STATUSES, JobStatus
from mv.models.frames import StartFrame
from mv.models.stems import VocalStem
from mv.providers.base import ProviderError


class PerformerInputs:
    """Mixed into Clip (its ``input`` names the start frame, previous clip or vocal stem)."""

    input: dict[str, Any]
    status: str
    started_at: Any
    pk: Any
    audio_slice: Any
    audio_start: float | None
    audio_end: float | None

    @classmethod
    def waiting_for_events(cls) -> Q:
        """The rows whose start frame, or the vocals their lipsync is cut from, is still being
        made: they are granted no slot meanwhile (one rule with ``waits_for_event``)."""
        frames = [str(pk) for pk in StartFrame.objects.filter(status__in=ACTIVE_STATUSES).values_list("pk", flat=True)]
        stems = [str(pk) for pk in VocalStem.objects.filter(status__in=ACTIVE_STATUSES).values_list("pk", flat=True)]
        waiting = cls.objects.filter(Q(input__start_frame__in=frames) | Q(input__vocals__in=stems),  # type: ignore[attr-defined]
                                     status=JobStatus.QUEUED, started_at__isnull=True)
        return Q(pk__in=waiting.values("pk"))  # by id: a row without the key is never caught by a NOT

    def waits_for_event(self) -> bool:
        """Still queued for the start frame it starts from, or the vocals its lipsync is cut
        from, being made: its poll chain ends here; that row's finish starts a new one
        (mv.pipeline.followups)."""
        if self.status != JobStatus.QUEUED or self.started_at is not None:
            return False
        if not (self.input.get("start_frame") or self.input.get("vocals")):
            return False
        return type(self).objects.filter(self.waiting_for_events(), pk=self.pk).exists()

    def claim_turn(self) -> bool:
        """Not while it waits for its start frame or vocals (not even for a slot's grant)."""
        return not self.waits_for_event() and super().claim_turn()  # type: ignore[misc]

    def _start_image(self, stack: contextlib.ExitStack, workdir: Path) -> Path | None:
        """The first frame it starts from: its scene's start frame, or the previous shot's last frame."""
        if self.input.get("start_frame"):
            frame = StartFrame.objects.filter(pk=self.input["start_frame"]).first()
            if frame is None or frame.status != JobStatus.SUCCEEDED or not frame.file:
                reason = (frame.error or "it was stopped").rstrip(".") if frame else "it is gone"
                raise ProviderError(f"The scene's start frame could not be made ({reason}); "
                                    f"make a new start frame, then regenerate.")
            return stack.enter_context(files.local_path(frame.file))
        if self.input.get("continue_from"):
            previous = type(self).objects.filter(pk=self.input["continue_from"]).first()
            if previous is None or not previous.file:
                raise ProviderError("The previous shot's clip is gone; untick \"continue the previous shot\".")
            out = workdir / "previous-last-frame.png"
            media.last_frame(stack.enter_context(files.local_path(previous.file)), out)
            return out
        return None

    def _use_vocals(self, workdir: Path) -> None:
        """Its slice cut from the song's vocal stem, sample-accurate, in place of the mix's
        (kept when the separation failed, and the card says so)."""
        stem = VocalStem.objects.filter(pk=self.input.get("vocals")).first() if self.input.get("vocals") else None
        if stem is None or self.input.get("audio_source"):
            return
        if stem.status != JobStatus.SUCCEEDED or not stem.file:
            self.input |= {"audio_source": "mix", "audio_note": "Lipsync on the full mix: the song's vocals could "
                                                                "not be separated."}
            return
        sliced = workdir / "vocals-slice.wav"
        with files.local_path(stem.file) as voice:
            media.cut_audio(voice, self.audio_start or 0.0, self.audio_end or 0.0, sliced)
        files.store(self.audio_slice, sliced, f"{self.pk}-vocals.wav")
        type(self).objects.filter(pk=self.pk).update(audio_slice=self.audio_slice.name)
        self.input |= {"audio_source": "vocals"}


__all__ = ["PerformerInputs"]
