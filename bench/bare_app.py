"""The ceiling ingest is measured against: a bare FastAPI endpoint that parses the same body
(the same pydantic model) and answers 202, with no auth, database or queue."""

from __future__ import annotations

import uuid

from fastapi import FastAPI

from ingest.api.schemas import Accepted, NotificationRequest

app = FastAPI()


@app.post("/v1/notifications", status_code=202)
async def accept(body: NotificationRequest) -> Accepted:
    del body
    return Accepted(id=uuid.uuid4())
