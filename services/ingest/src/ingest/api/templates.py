"""``GET /v1/templates``: the templates the tenant's sender numbers may send, as Meta's
catalogue of their business accounts holds them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from ingest.api.deps import CurrentTenant, State
from ingest.api.errors import error_responses
from ingest.api.schemas import StorableText
from ingest.notifications.accept import fallback_sender
from ingest.templates import catalogue

router = APIRouter(prefix="/v1", tags=["templates"])


class TemplateView(BaseModel):
    name: str
    language: str
    category: str = Field(description="As Meta assigned it: MARKETING, UTILITY, AUTHENTICATION.")
    status: str = Field(description="APPROVED, PENDING, REJECTED, PAUSED, DISABLED, IN_APPEAL.")
    parameter_format: str = Field(description="POSITIONAL ({{1}}) or NAMED ({{name}}).")
    components: list[dict[str, Any]] = Field(description="Meta's definition, as synced.")
    waba_id: str = Field(description="The business account (WABA) it belongs to.")


class TemplateList(BaseModel):
    items: list[TemplateView]


@router.get("/templates", responses=error_responses(422), summary="Templates")
async def list_templates(
    tenant: CurrentTenant,
    state: State,
    name: Annotated[StorableText | None, Query(max_length=512)] = None,
) -> TemplateList:
    """The templates of the business accounts of the tenant's sender numbers, by name then
    language (``name``: that template's languages only). Empty until the catalogue was
    first synced from Meta (the relay syncs at start and every TEMPLATE_SYNC_SECONDS)."""
    fallback = fallback_sender(state.settings)
    senders = tenant.phone_number_ids or ((fallback,) if fallback else ())
    # A number SENDER_WABAS does not list belongs to no business account the settings name.
    wabas = list(dict.fromkeys(w for w in map(state.settings.waba_of, senders) if w is not None))
    found = await catalogue.listed(state.engine, wabas, name)
    return TemplateList(
        items=[
            TemplateView(
                name=d.name,
                language=d.language,
                category=d.category,
                status=d.status,
                parameter_format=d.parameter_format,
                components=d.components,
                waba_id=d.waba_id,
            )
            for d in found
        ]
    )
