"""Exports for editors (mv.exports) under /api/mv/projects/<id>/: the timeline as OTIO, FCPXML
or EDL with media references to the app's stable media URLs, and the editing zip."""

from __future__ import annotations

import uuid

from django.http import FileResponse, HttpRequest, HttpResponse
from django.urls import reverse

from mv import exports, files
from mv.api import _owned
from mv.apiutils import api_endpoint
from mv.models import Project


def _filename(project: Project, extension: str) -> str:
    return f"{project.download_stem() or 'project'}.{extension}"


def _timeline_response(request: HttpRequest, project_id: uuid.UUID, fmt: str) -> HttpResponse:
    project = _owned(Project, request, project_id)
    track = project.audio_track
    tl = exports.timeline(
        project, lambda cut: request.build_absolute_uri(reverse("api_get_video", args=[cut.clip.pk])),
        request.build_absolute_uri(reverse("api_audio_get", args=[track.pk])) if track else None)
    _, extension, content_type = exports.FORMATS[fmt]
    response = HttpResponse(exports.render(tl, fmt), content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(project, extension)}"'
    return response


@api_endpoint("GET")
def export_otio(request: HttpRequest, project_id: uuid.UUID) -> HttpResponse:
    return _timeline_response(request, project_id, "otio")


@api_endpoint("GET")
def export_fcpxml(request: HttpRequest, project_id: uuid.UUID) -> HttpResponse:
    return _timeline_response(request, project_id, "fcpxml")


@api_endpoint("GET")
def export_edl(request: HttpRequest, project_id: uuid.UUID) -> HttpResponse:
    return _timeline_response(request, project_id, "edl")


@api_endpoint("GET")
def export_zip(request: HttpRequest, project_id: uuid.UUID) -> HttpResponse:
    """Timelines, clips and the song's part in one zip ("Download for editing")."""
    project = _owned(Project, request, project_id)
    with files.workdir() as workdir:
        exports.editing_zip(project, workdir / "export.zip", workdir)
        handle = open(workdir / "export.zip", "rb")  # noqa: SIM115  (FileResponse closes it)
        # the folder goes when this block ends; the open handle keeps the zip readable until sent
    return FileResponse(handle, as_attachment=True, filename=_filename(project, "zip"), content_type="application/zip")
