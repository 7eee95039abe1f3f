"""Read receipts with typing indicators, and the free-form kinds a business sends inside the
24h window (interactive, location, contacts, reaction), checked with Meta's codes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.wa_sandbox.conftest import PHONE_ID, Client, Receiver

USER = "14155550101"


async def user_writes(sandbox: Client, to_phone_number_id: str = PHONE_ID) -> str:
    response = await sandbox.http.post(
        "/_sandbox/inbound",
        json={"from": USER, "text": "hello", "to_phone_number_id": to_phone_number_id},
    )
    wamid: str = response.json()["wamid"]
    return wamid


@pytest.fixture
async def windowed(sandbox: Client) -> Client:
    """The user has written in, and the pair limit does not get in the way."""
    await sandbox.configure({"pair_limit": {"per_seconds": 0}})
    await user_writes(sandbox)
    return sandbox


# --- read receipts -------------------------------------------------------------------------


async def test_mark_as_read_with_a_typing_indicator(sandbox: Client) -> None:
    wamid = await user_writes(sandbox)
    response = await sandbox.send(
        {"status": "read", "message_id": wamid, "typing_indicator": {"type": "text"}}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    plain = await sandbox.send({"status": "read", "message_id": wamid})
    assert plain.json() == {"success": True}
    reads = (await sandbox.http.get("/_sandbox/reads")).json()["reads"]
    assert [(r["message_id"], r["phone_number_id"], r["typing_indicator"]) for r in reads] == [
        (wamid, PHONE_ID, {"type": "text"}),
        (wamid, PHONE_ID, None),
    ]
    assert all(r["at"] for r in reads)
    stats = (await sandbox.http.get("/_sandbox/stats")).json()
    assert (stats["reads"], stats["inbound"], stats["accepted"]) == (2, 1, 0)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"status": "read", "message_id": "wamid.UNKNOWN"}, 100),
        ({"status": "read"}, 131008),
        ({"status": "delivered", "message_id": "{wamid}"}, 100),
        ({"status": "read", "message_id": "{wamid}", "typing_indicator": {"type": "audio"}}, 100),
    ],
)
async def test_bad_read_receipts_are_refused(
    sandbox: Client, body: dict[str, Any], code: int
) -> None:
    wamid = await user_writes(sandbox)
    filled = {k: v.replace("{wamid}", wamid) if isinstance(v, str) else v for k, v in body.items()}
    response = await sandbox.send(filled)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert (await sandbox.http.get("/_sandbox/reads")).json()["reads"] == []


async def test_an_outbound_wamid_cannot_be_marked_read(sandbox: Client) -> None:
    await user_writes(sandbox)
    sent = await sandbox.send({"to": USER, "type": "text", "text": {"body": "hi"}})
    outbound = sent.json()["messages"][0]["id"]
    response = await sandbox.send({"status": "read", "message_id": outbound})
    assert response.json()["error"]["code"] == 100


async def test_reset_clears_reads(sandbox: Client) -> None:
    wamid = await user_writes(sandbox)
    await sandbox.send({"status": "read", "message_id": wamid})
    await sandbox.http.post("/_sandbox/reset")
    assert (await sandbox.http.get("/_sandbox/reads")).json()["reads"] == []


# --- interactive ---------------------------------------------------------------------------


def reply_buttons(*titles: str, body: str = "Change or cancel?") -> dict[str, Any]:
    return {
        "type": "button",
        "header": {"type": "text", "text": "Your appointment"},
        "body": {"text": body},
        "footer": {"text": "Lucky Shrub"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": f"b{i}", "title": t}}
                for i, t in enumerate(titles)
            ]
        },
    }


def list_message(rows: int = 2, sections: int = 1, **changes: Any) -> dict[str, Any]:
    per = max(1, rows // sections)
    return {
        "type": "list",
        "body": {"text": "Choose a shipping option"},
        "action": {
            "button": changes.get("button", "Options"),
            "sections": [
                {
                    "title": f"Section {s}",
                    "rows": [
                        {"id": f"s{s}r{r}", "title": f"Row {r}", "description": "1-2 days"}
                        for r in range(per)
                    ],
                }
                for s in range(sections)
            ],
        },
    }


def cta_url(**parameters: Any) -> dict[str, Any]:
    return {
        "type": "cta_url",
        "body": {"text": "Track your order"},
        "action": {
            "name": "cta_url",
            "parameters": {"display_text": "Track", "url": "https://example.com/t/1"} | parameters,
        },
    }


def interactive(obj: dict[str, Any]) -> dict[str, Any]:
    return {"to": USER, "type": "interactive", "interactive": obj}


@pytest.mark.parametrize(
    "obj",
    [
        reply_buttons("Change"),
        reply_buttons("Change", "Cancel", "Keep"),
        list_message(rows=10, sections=2),
        cta_url(),
    ],
)
async def test_valid_interactive_messages_are_accepted(
    windowed: Client, receiver: Receiver, obj: dict[str, Any]
) -> None:
    response = await windowed.send(interactive(obj))
    assert response.status_code == 200, response.text
    wamid = response.json()["messages"][0]["id"]
    await receiver.wait_for(lambda: len(receiver.statuses_of(wamid)) == 3)
    assert receiver.statuses_of(wamid)[0]["pricing"]["category"] == "service"


def _without(obj: dict[str, Any], *path: str | int) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    target: Any = out
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return out


@pytest.mark.parametrize(
    ("obj", "code"),
    [
        (_without(reply_buttons("A"), "body"), 131008),
        (_without(reply_buttons("A"), "type"), 131008),
        ({**reply_buttons("A"), "type": "carousel3d"}, 131009),
        (reply_buttons(), 131009),  # no buttons
        (reply_buttons("A", "B", "C", "D"), 131009),
        (reply_buttons("A" * 21), 131009),
        (reply_buttons("Same", "Same"), 131009),
        (reply_buttons("A", body="x" * 1025), 131009),
        ({**reply_buttons("A"), "footer": {"text": "f" * 61}}, 131009),
        ({**reply_buttons("A"), "header": {"type": "text", "text": "h" * 61}}, 131009),
        (list_message(rows=11, sections=1), 131009),
        (list_message(rows=2, sections=11), 131009),
        (list_message(button="b" * 21), 131009),
        (_without(list_message(), "action", "button"), 131008),
        (_without(list_message(sections=2, rows=2), "action", "sections", 0, "title"), 131008),
        (
            {**list_message(), "header": {"type": "image", "image": {"link": "https://x/y.png"}}},
            131009,
        ),
        (cta_url(display_text="d" * 21), 131009),
        (cta_url(url="ftp://example.com"), 131009),
        (_without(cta_url(), "action", "parameters", "url"), 131008),
    ],
)
async def test_invalid_interactive_messages_get_metas_codes(
    windowed: Client, obj: dict[str, Any], code: int
) -> None:
    response = await windowed.send(interactive(obj))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["error_data"]["details"]


async def test_list_rows_have_their_limits(windowed: Client) -> None:
    obj = list_message()
    obj["action"]["sections"][0]["rows"][0]["title"] = "t" * 25
    assert (await windowed.send(interactive(obj))).json()["error"]["code"] == 131009
    obj = list_message()
    obj["action"]["sections"][0]["rows"][0]["description"] = "d" * 73
    assert (await windowed.send(interactive(obj))).json()["error"]["code"] == 131009
    obj = list_message()
    obj["action"]["sections"][0]["rows"][1]["id"] = obj["action"]["sections"][0]["rows"][0]["id"]
    assert (await windowed.send(interactive(obj))).json()["error"]["code"] == 131009


@pytest.mark.parametrize("failure", ["sync", "async"])
async def test_interactive_outside_the_window_is_131047(
    sandbox: Client, receiver: Receiver, failure: str
) -> None:
    await sandbox.configure({"policy": {"window_failure": failure}})
    response = await sandbox.send(interactive(reply_buttons("Yes")))
    if failure == "sync":
        assert response.status_code == 400
        assert response.json()["error"]["code"] == 131047
        return
    wamid = response.json()["messages"][0]["id"]
    await receiver.wait_for(lambda: len(receiver.statuses_of(wamid)) == 1)
    (status,) = receiver.statuses_of(wamid)
    assert (status["status"], status["errors"][0]["code"]) == ("failed", 131047)


# --- location, contacts, reaction ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"type": "location", "location": {"latitude": 37.48, "longitude": -122.14}}, None),
        (
            {
                "type": "location",
                "location": {"latitude": "37.48", "longitude": "-122.14", "name": "HQ"},
            },
            None,
        ),
        ({"type": "location", "location": {"longitude": -122.14}}, 131008),
        ({"type": "location", "location": {"latitude": "north", "longitude": 1}}, 131009),
        ({"type": "location", "location": {"latitude": 91, "longitude": 1}}, 131009),
        (
            {"type": "contacts", "contacts": [{"name": {"formatted_name": "Ana Lima"}}]},
            None,
        ),
        ({"type": "contacts", "contacts": []}, 131008),
        ({"type": "contacts", "contacts": [{"name": {"first_name": "Ana"}}]}, 131008),
        ({"type": "contacts", "contacts": [{"phones": [{"phone": "+1"}]}]}, 131008),
        ({"type": "reaction", "reaction": {"emoji": "\U0001f44d"}}, 131008),
        ({"type": "reaction", "reaction": {"message_id": "{wamid}"}}, 131008),
        ({"type": "reaction", "reaction": {"message_id": "{wamid}", "emoji": "ok"}}, 131009),
        (
            {
                "type": "reaction",
                "reaction": {"message_id": "{wamid}", "emoji": "\U0001f44d\U0001f44d"},
            },
            131009,
        ),
    ],
)
async def test_location_contacts_and_reaction_are_checked(
    sandbox: Client, body: dict[str, Any], code: int | None
) -> None:
    await sandbox.configure({"pair_limit": {"per_seconds": 0}})
    wamid = await user_writes(sandbox)
    kind = body["type"]
    if kind == "reaction":
        body = {
            **body,
            "reaction": {k: v.replace("{wamid}", wamid) for k, v in body["reaction"].items()},
        }
    response = await sandbox.send({"to": USER, **body})
    if code is None:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 400
        assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "emoji", ["\U0001f600", "\u2764\ufe0f", "\U0001f44d\U0001f3fd", "\U0001f1e7\U0001f1f7", ""]
)
async def test_a_reaction_gets_only_a_sent_status(
    windowed: Client, receiver: Receiver, emoji: str
) -> None:
    inbound = await user_writes(windowed)
    response = await windowed.send(
        {"to": USER, "type": "reaction", "reaction": {"message_id": inbound, "emoji": emoji}}
    )
    assert response.status_code == 200, response.text
    wamid = response.json()["messages"][0]["id"]
    marker = await windowed.send({"to": USER, "type": "text", "text": {"body": "marker"}})
    later = marker.json()["messages"][0]["id"]  # its read comes after any delivered or read
    await receiver.wait_for(lambda: len(receiver.statuses_of(later)) == 3)
    assert [s["status"] for s in receiver.statuses_of(wamid)] == ["sent"]


async def test_a_reaction_to_no_message_of_the_user_fails_with_131009(
    windowed: Client, receiver: Receiver
) -> None:
    response = await windowed.send(
        {
            "to": USER,
            "type": "reaction",
            "reaction": {"message_id": "wamid.NOPE", "emoji": "\U0001f600"},
        }
    )
    assert response.status_code == 200
    wamid = response.json()["messages"][0]["id"]
    await receiver.wait_for(lambda: len(receiver.statuses_of(wamid)) == 1)
    (status,) = receiver.statuses_of(wamid)
    assert (status["status"], status["errors"][0]["code"]) == ("failed", 131009)


async def test_a_reaction_needs_the_window_too(sandbox: Client) -> None:
    await sandbox.configure({"policy": {"window_failure": "sync"}})
    response = await sandbox.send(
        {
            "to": USER,
            "type": "reaction",
            "reaction": {"message_id": "wamid.X", "emoji": "\U0001f600"},
        }
    )
    assert response.json()["error"]["code"] == 131047
