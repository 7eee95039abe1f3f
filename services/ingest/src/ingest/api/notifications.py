"""``/v1/notifications``: accept a notification, read its status and history."""

from __future__ import annotations

from uuid import UUID

import structlog
from fastapi import APIRouter, BackgroundTasks, status

from ingest import outbox
from ingest.deps import CurrentTenant, State
from ingest.errors import ApiError
from ingest.read_model import notification_view
from ingest.schemas import ErrorBody, NotificationAccepted, NotificationRequest, NotificationView
from ingest.tables import notifications
from notif_core.events import AcceptedPayload
from notif_core.events import NotificationAccepted as AcceptedEvent
from notif_core.ids import new_id
from notif_core.logging import get_logger

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])
log = get_logger(__name__)

_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody},
    404: {"model": ErrorBody},
    422: {"model": ErrorBody},
}


@router.post("", status_code=status.HTTP_202_ACCEPTED, responses=_ERRORS)
async def create_notification(
    body: NotificationRequest, tenant: CurrentTenant, state: State, background: BackgroundTasks
) -> NotificationAccepted:
    """Accept a notification: one transaction writes it, its event and its outbox rows."""
    notification_id = new_id()
    structlog.contextvars.bind_contextvars(notification_id=str(notification_id))
    event = AcceptedEvent(
        producer="ingest",
        tenant_id=tenant.id,
        notification_id=notification_id,
        payload=AcceptedPayload(
            to=body.to,
            message=body.cloud_api_message(),
            phone_number_id=tenant.phone_number_id,
        ),
    )
    async with state.engine.begin() as conn:
        await conn.execute(
            notifications.insert().values(
                id=notification_id, tenant_id=tenant.id, request=body.model_dump(mode="json")
            )
        )
        rows = [
            outbox.OutboxRow(await outbox.add(conn, queue, event), queue, event)
            for queue in ("dispatch", "events")
        ]
    background.add_task(state.outbox.publish_after_commit, rows)
    log.info("notification_accepted", to=body.to)
    return NotificationAccepted(id=notification_id)


@router.get("/{notification_id}", responses=_ERRORS)
async def get_notification(
    notification_id: UUID, tenant: CurrentTenant, state: State
) -> NotificationView:
    """Current status and the ordered event history."""
    async with state.engine.connect() as conn:
        view = await notification_view(conn, tenant.id, notification_id)
    if view is None:
        raise ApiError(404, "notification_not_found", "No such notification for this tenant.")
    return view
