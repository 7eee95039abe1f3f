"""One person, many forms, through the whole system: a window opened from Meta's id is
found for the dialled number, a STOP from one form suppresses every form, a username user's
BSUID-only STOP holds, and an opt-out follows a number change."""

from __future__ import annotations

import time
from typing import Any

import httpx
import psycopg
import pytest

from notif_core.db import libpq_url
from notif_core.identity import recipient_key
from tests.conftest import Stack
from tests.e2e.api import get, hello, post, sandbox_sends, wait_status
from tests.e2e.services import Services

pytestmark = pytest.mark.e2e

DELIVERED = ("delivered", "read")


def inbound(services: Services, **body: str) -> dict[str, Any]:
    response = httpx.post(services.url("sandbox") + "/_sandbox/inbound", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def projected(stack: Stack, query: str, key: str, within: float = 10) -> None:
    """Until the ledger has a row for ``key`` (the dispatcher reads the ledger)."""
    deadline = time.monotonic() + within
    with psycopg.connect(libpq_url(stack.database_url)) as conn:
        while not conn.execute(query, (key,)).fetchone():
            assert time.monotonic() < deadline, f"the ledger did not project {query}"
            time.sleep(0.05)


def window(stack: Stack, who: str) -> None:
    projected(stack, "SELECT 1 FROM ledger.windows WHERE recipient = %s", recipient_key(who))


def opted_out(stack: Stack, who: str) -> None:
    projected(
        stack,
        "SELECT 1 FROM ledger.suppressions WHERE recipient = %s AND since IS NOT NULL "
        "AND (lifted_at IS NULL OR since > lifted_at)",
        recipient_key(who),
    )


def text(to: str) -> dict[str, Any]:
    return {"to": to, "text": {"body": "your order shipped"}}


def sale(to: str) -> dict[str, Any]:
    return {
        "to": to,
        "template": {
            "name": "spring_sale",
            "language": "en_US",
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "20%"}]}],
        },
    }


def reaches(services: Services, key: str, nid: str, within: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + within
    view = get(services, key, nid)
    while view["status"] not in DELIVERED and time.monotonic() < deadline:
        assert view["status"] not in ("failed", "suppressed", "expired"), view
        time.sleep(0.1)
        view = get(services, key, nid)
    assert view["status"] in DELIVERED, view
    return view


def held_back(services: Services, key: str, body: dict[str, Any]) -> None:
    response = post(services, key, body)
    assert response.status_code == 202, response.text
    nid = response.json()["id"]
    wait_status(services, key, nid, "suppressed", timeout=15)
    assert sandbox_sends(services, nid) == []


@pytest.mark.parametrize(
    ("inbound_from", "to"),
    [("558287654321", "+5582987654321"), ("5215587654321", "+525587654321")],
    ids=["brazil-9-less-id", "mexico-521-id"],
)
def test_a_text_after_an_inbound_from_metas_id_is_delivered(
    stack: Stack, services: Services, api_key: str, inbound_from: str, to: str
) -> None:
    assert inbound(services, **{"from": inbound_from, "text": "hi"})["wa_id"] == inbound_from
    window(stack, inbound_from)
    response = post(services, api_key, text(to))
    assert response.status_code == 202, response.text
    nid = response.json()["id"]
    reaches(services, api_key, nid)
    (sent,) = sandbox_sends(services, nid)
    assert sent["to"] == inbound_from  # the sandbox, like Meta, knows the person by the id


def test_a_stop_from_the_521_id_suppresses_marketing_to_the_52_number(
    stack: Stack, services: Services, api_key: str
) -> None:
    inbound(services, **{"from": "5215512340000", "text": "STOP"})
    opted_out(stack, "+525512340000")
    held_back(services, api_key, sale("+525512340000"))


def test_a_bsuid_only_stop_holds_for_the_bsuid_and_the_number_it_came_with(
    stack: Stack, services: Services, api_key: str
) -> None:
    """Sending to a BSUID is not part of the API yet: the BSUID's own suppression is checked
    through the suppression API, and sends through the number Meta paired it with."""
    bsuid, number = "US.13491208655302741918", "+14155550188"
    inbound(services, **{"from": number, "user_id": bsuid, "text": "hi"})
    window(stack, number)
    inbound(services, user_id=bsuid, username="@jane", text="STOP")
    opted_out(stack, bsuid)
    opted_out(stack, number)
    listed = httpx.get(
        services.url("ingest") + "/v1/suppressions",
        params={"recipient": bsuid},
        headers={"X-API-Key": api_key},
    )
    assert listed.status_code == 200, listed.text
    assert {(i["recipient"], i["scope"]) for i in listed.json()["items"]} == {(bsuid, "all")}
    held_back(services, api_key, text(number))


def test_an_opt_out_follows_the_person_to_a_new_number(
    stack: Stack, services: Services, api_key: str
) -> None:
    old, new = "+525512341111", "+525512342222"
    inbound(services, **{"from": old, "text": "STOP"})
    opted_out(stack, old)
    changed = inbound(services, **{"from": old, "changed_number_to": new})
    assert changed["wa_id"] == "5215512342222"
    opted_out(stack, new)
    held_back(services, api_key, sale(new))
    with psycopg.connect(libpq_url(stack.database_url)) as conn:  # the old number may be
        left = conn.execute(  # someone else's one day: nothing stays behind under it
            "SELECT count(*) FROM ledger.suppressions WHERE recipient = %s", (recipient_key(old),)
        ).fetchone()
    assert left == (0,)


def test_the_suppression_api_takes_any_form(stack: Stack, services: Services, api_key: str) -> None:
    headers = {"X-API-Key": api_key}
    added = httpx.post(
        services.url("ingest") + "/v1/suppressions",
        json={"recipient": "+5215512343333"},
        headers=headers,
    )
    assert added.status_code == 202, added.text
    opted_out(stack, "+525512343333")
    listed = httpx.get(
        services.url("ingest") + "/v1/suppressions",
        params={"recipient": "+525512343333"},
        headers=headers,
    )
    assert [i["recipient"] for i in listed.json()["items"]] == ["+525512343333"]
    held_back(services, api_key, sale("+525512343333"))
    lifted = httpx.delete(
        services.url("ingest") + "/v1/suppressions/+525512343333", headers=headers
    )
    assert lifted.status_code == 202, lifted.text


def test_a_marketing_only_opt_out_holds_marketing_and_lets_utility_through(
    stack: Stack, services: Services, api_key: str
) -> None:
    headers = {"X-API-Key": api_key}
    added = httpx.post(
        services.url("ingest") + "/v1/suppressions",
        json={"recipient": "+5215512344444", "scope": "marketing"},
        headers=headers,
    )
    assert added.status_code == 202, added.text
    opted_out(stack, "+525512344444")
    marketing = sale("+525512344444")
    marketing["template"]["category"] = "marketing"  # the client's declaration decides
    held_back(services, api_key, marketing)
    utility = post(services, api_key, hello("+525512344444"))
    assert utility.status_code == 202, utility.text
    reaches(services, api_key, utility.json()["id"])


def test_after_a_number_change_the_old_number_is_sent_to_without_waiting(
    stack: Stack, services: Services, api_key: str
) -> None:
    old, new = "+14155559500", "+14155559501"
    inbound(services, **{"from": old, "text": "hi"})
    window(stack, old)
    inbound(services, **{"from": old, "changed_number_to": new})
    window(stack, new)  # the ledger moved the window to the new number
    response = post(services, api_key, hello(old))  # the old number may be someone else's now
    assert response.status_code == 202, response.text
    # well within PROJECTION_WAIT_SECONDS: nothing made the send wait for the ledger
    reaches(services, api_key, response.json()["id"], within=15)


def test_the_mexican_521_form_is_accepted_as_a_recipient(services: Services, api_key: str) -> None:
    # libphonenumber calls it impossible, but it is Mexico's WhatsApp id and CRMs store it
    response = post(services, api_key, hello("+52 1 55 8765 0003"))
    assert response.status_code == 202, response.text
    view = reaches(services, api_key, response.json()["id"])
    assert view["to"] == "+525587650003"
