"""Media: upload a file for your number and send it by id; fetch what your customers sent
(docs/api.md, "Media")."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from ingest.api.deps import CurrentTenant, State
from ingest.api.errors import ApiError, error_responses, meta_failure
from ingest.api.schemas import StorableText
from ingest.media import download, form, upload
from ingest.meta_graph import MetaRefused, MetaUnavailable
from ingest.notifications.accept import choose_sender, fallback_sender

router = APIRouter(prefix="/v1/media", tags=["media"])


class UploadedMedia(BaseModel):
    id: str = Field(description='Meta\'s media id: send it as `{"document": {"id": …}}` etc.')
    sha256: str = Field(description="SHA-256 of the file, hex.")
    mime_type: str
    file_size: int = Field(description="Bytes.")
    expires_at: datetime = Field(
        description="When Meta forgets the id: 30 days after it was first uploaded."
    )
    deduplicated: bool = Field(
        description="True when the same file was uploaded for the same number before and "
        "its id is reused (no new upload to Meta)."
    )


UPLOAD_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "phone_number_id": {"type": "string", "pattern": r"^[0-9]{5,20}$"},
                    },
                }
            }
        },
    }
}


@router.post(
    "",
    responses=error_responses(400, 413, 415, 422, 502),
    summary="Upload a media file",
    openapi_extra=UPLOAD_FORM,
)
async def upload_media(request: Request, tenant: CurrentTenant, state: State) -> UploadedMedia:
    """Uploads ``file`` (multipart; its part's Content-Type is its type, as Meta reads it)
    to Meta for your number ``phone_number_id`` (default: your first). 422
    ``unsupported_media`` / 413 ``media_too_large`` for what Meta would refuse, checked
    while the body streams in; the same file again for the same number returns the same id
    (``deduplicated``) once Meta confirms it still holds it; 502 ``meta_error`` when Meta
    refuses, 503 when it cannot be reached."""
    try:
        uploaded_form = await form.read(request.headers.get("content-type"), request.stream())
    except form.FormRefused as exc:
        raise ApiError(exc.status, exc.code, exc.message, field=exc.field) from None
    sender = choose_sender(tenant, uploaded_form.phone_number_id, fallback_sender(state.settings))
    try:
        done = await upload.upload(
            state.meta, state.redis, state.settings, tenant.id, sender, uploaded_form
        )
    except (MetaRefused, MetaUnavailable) as exc:
        raise meta_failure(exc) from None
    return UploadedMedia(
        id=done.id,
        sha256=done.sha256,
        mime_type=done.mime_type,
        file_size=done.file_size,
        expires_at=done.expires_at,
        deduplicated=done.deduplicated,
    )


@router.get(
    "/{media_id}",
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The file."},
        **error_responses(404, 422, 502),
    },
    response_class=StreamingResponse,
    summary="Download a media file",
)
async def download_media(
    media_id: StorableText, tenant: CurrentTenant, state: State
) -> StreamingResponse:
    """The file of a media id one of your customers sent you, or that you uploaded, with
    its Content-Type and Content-Length; 404 ``not_found`` for any other id; 502
    ``media_too_large_upstream`` for a file over its type's limit (our limit, not Meta's
    refusal, so no ``meta_code``)."""
    sender = await download.owning_sender(state.engine, state.redis, tenant.id, media_id)
    if sender is None:
        raise ApiError(404, "not_found", "No media with this id.")
    try:
        found = await download.open_download(state.meta, state.settings, sender, media_id)
    except (MetaRefused, MetaUnavailable) as exc:
        raise meta_failure(exc) from None
    except download.OverOurLimit as exc:
        raise ApiError(502, "media_too_large_upstream", exc.message) from None
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": "attachment",
        "Cache-Control": "private, no-store",
    }
    if found.length is not None:
        headers["Content-Length"] = str(found.length)
    return StreamingResponse(
        found.chunks(),
        media_type=found.mime_type,
        headers=headers,
        background=BackgroundTask(found.close),
    )
