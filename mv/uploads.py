"""Stop an upload the moment it passes its limit, instead of spooling it to disk first.

``LimitedUploadHandler`` runs before Django's own handlers (``FILE_UPLOAD_HANDLERS``). Signed-in
callers (a session or an API key) may send up to ``MV_MAX_UPLOAD_MB`` of files; anyone else gets
the small body limit (``DATA_UPLOAD_MAX_MEMORY_SIZE``): the login form takes no files. A request
whose Content-Length is already over is not read at all; one without, or that lies, is cut off
at the first chunk past the limit. Views ask ``too_large(request)`` for the message.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, QueryDict
from django.utils.datastructures import MultiValueDict

_FLAG = "_mv_upload_too_large"
MULTIPART_OVERHEAD = 64 * 1024  # boundaries, headers and small fields beside the file


def too_large(request: HttpRequest) -> str:
    """The message for an upload that was stopped, or "" when none was."""
    if getattr(request, _FLAG, False):
        return f"The file is larger than {settings.MV_MAX_UPLOAD_MB} MB, the largest accepted."
    return ""


class LimitedUploadHandler(FileUploadHandler):
    def handle_raw_input(self, input_data: Any, META: dict, content_length: int, boundary: bytes,
                         encoding: str | None = None) -> tuple[QueryDict, MultiValueDict] | None:
        # a session, or an API key the API view has already checked (never a second check here)
        self.signed_in = self.request.user.is_authenticated or getattr(self.request, "_mv_api_user", None) is not None
        self.limit = (settings.MV_MAX_UPLOAD_MB * 1024 * 1024 if self.signed_in
                      else settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        self.received = 0
        if content_length > self.limit + MULTIPART_OVERHEAD:
            self._refuse()
            return QueryDict(encoding=encoding), MultiValueDict()  # handled: nothing is read
        return None

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            self._refuse()
            raise StopUpload(connection_reset=True)  # stop reading; the partial file is discarded
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None

    def _refuse(self) -> None:
        if not self.signed_in:
            raise RequestDataTooBig("An anonymous request sent more than the small body limit.")
        setattr(self.request, _FLAG, True)
