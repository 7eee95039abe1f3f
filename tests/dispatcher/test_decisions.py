"""Every branch of the dispatcher's decisions, from plain values: no server, no clock."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest

from dispatcher import decisions
from dispatcher.breaker import BreakerState
from dispatcher.cloud_api import SendResult
from dispatcher.decisions import (
    MAX_ATTEMPTS_EXCEEDED,
    WINDOW_CLOSED,
    CloseWindow,
    ComeBack,
    Expire,
    Fail,
    Go,
    HoldClaim,
    HoldPaused,
    LeaveToMeta,
    LookForStatuses,
    OpenBreaker,
    Projection,
    ReportCancelled,
    ReportSent,
    Resend,
    Retry,
    Send,
    Sent,
    Settled,
    StoppedTemplate,
    Suppress,
    Wait,
    WaitForPair,
)
from dispatcher.gate import Claim
from dispatcher.messaging_limit import Place
from dispatcher.recipients import RecipientFacts
from dispatcher.settings import WindowMode
from dispatcher.throttle import Admission
from notif_core.backoff import RetryPolicy
from notif_core.events import AcceptedPayload, MetaError, NotificationAccepted
from notif_core.ids import new_id
from notif_core.meta_codes import TRANSPORT_ERROR
from notif_core.vocabulary import ClaimState

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TEXT = {"type": "text", "text": {"body": "Your order shipped."}}
TEMPLATE = {"type": "template", "template": {"name": "order_update", "language": {"code": "en"}}}
POLICY = RetryPolicy(base_seconds=2, cap_seconds=60, max_attempts=4)


def command(
    *,
    message: dict[str, Any] | None = None,
    accepted_ago: float = 0.0,
    expires_in: float | None = None,
) -> NotificationAccepted:
    return NotificationAccepted(
        notification_id=new_id(),
        tenant_id=new_id(),
        producer="ingest",
        occurred_at=NOW - timedelta(seconds=accepted_ago),
        payload=AcceptedPayload(
            to="+447700900123",
            message=message or TEXT,
            expires_at=None if expires_in is None else NOW + timedelta(seconds=expires_in),
        ),
    )


def facts(
    *,
    suppressed: bool = False,
    projected_ago: float | None = None,
    marked_ago: float | None = None,
    mark_age: float | None = None,
    unprojected_age: float | None = None,
) -> RecipientFacts:
    def at(ago: float | None) -> datetime | None:
        return None if ago is None else NOW - timedelta(seconds=ago)

    return RecipientFacts(
        suppressed=suppressed,
        projected_inbound_at=at(projected_ago),
        marked_inbound_at=at(marked_ago),
        mark_age_seconds=mark_age,
        unprojected_age_seconds=unprojected_age,
    )


# --- on arrival ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "expired"),
    [(None, False), (60.0, False), (0.001, False), (0.0, True), (-60.0, True)],
)
def test_a_command_past_expires_at_expires(expires_in: float | None, expired: bool) -> None:
    cmd = command(expires_in=expires_in)
    verdict = decisions.on_arrival(cmd, NOW)
    if expired:
        assert verdict == Expire(NOW + timedelta(seconds=expires_in or 0.0))
    else:
        assert verdict is None


# --- the recipient ------------------------------------------------------------------------

HOUR = 3600.0
DAY = 24 * HOUR


@pytest.mark.parametrize(
    ("recipient", "expected"),
    [
        (facts(), Projection.SETTLED),
        (facts(projected_ago=60, marked_ago=60, mark_age=60), Projection.SETTLED),
        (facts(projected_ago=10, marked_ago=60, mark_age=60), Projection.SETTLED),
        (facts(projected_ago=60, marked_ago=10, mark_age=0.2), Projection.BEHIND),
        (facts(marked_ago=10, mark_age=0.2), Projection.BEHIND),
        (facts(marked_ago=10, mark_age=None), Projection.BEHIND),
        (facts(marked_ago=10, mark_age=119.9), Projection.BEHIND),
        (facts(marked_ago=10, mark_age=120.0), Projection.PAST_BOUND),
        (facts(projected_ago=HOUR, marked_ago=10, mark_age=500), Projection.PAST_BOUND),
        # Meta's timestamps are whole seconds: the window matches the mark once the ledger
        # has projected a "hi", while the STOP of the same second is still on its way.
        (facts(projected_ago=5, marked_ago=5, mark_age=1, unprojected_age=0.5), Projection.BEHIND),
        (facts(unprojected_age=119.9), Projection.BEHIND),
        (facts(unprojected_age=120.0), Projection.PAST_BOUND),
        # The newest inbound not projected counts for the bound, by either measure.
        (
            facts(projected_ago=60, marked_ago=10, mark_age=1, unprojected_age=500),
            Projection.BEHIND,
        ),
        (
            facts(projected_ago=60, marked_ago=10, mark_age=500, unprojected_age=1),
            Projection.BEHIND,
        ),
    ],
)
def test_the_ledger_is_waited_for_only_while_behind_and_within_the_bound(
    recipient: RecipientFacts, expected: Projection
) -> None:
    assert decisions.on_projection(recipient, projection_wait=120.0) is expected


@pytest.mark.parametrize(
    ("cmd", "recipient", "mode", "expected"),
    [
        # The ledger still behind after the inline wait: come back, nothing decided.
        (command(), None, "enforce", Wait(decisions.PROJECTION_RECHECK, "projection")),
        # An opt-out wins over everything else, template or not.
        (command(), facts(suppressed=True, projected_ago=60), "enforce", Suppress()),
        (command(message=TEMPLATE), facts(suppressed=True), "enforce", Suppress()),
        (command(), facts(suppressed=True), "pass_through", Suppress()),
        # Templates may open a conversation.
        (command(message=TEMPLATE, accepted_ago=HOUR), facts(), "enforce", None),
        # Free-form text in a window the ledger or ingest's mark saw.
        (command(accepted_ago=HOUR), facts(projected_ago=HOUR), "enforce", None),
        (command(accepted_ago=HOUR), facts(marked_ago=23 * HOUR), "enforce", None),
        (
            command(accepted_ago=HOUR),
            facts(projected_ago=30 * HOUR, marked_ago=60),
            "enforce",
            None,
        ),
        # Nobody saw a window: fresh commands go to Meta, older ones fail here.
        (command(accepted_ago=10), facts(), "enforce", LeaveToMeta(10.0)),
        (
            command(accepted_ago=179.5),
            facts(projected_ago=25 * HOUR),
            "enforce",
            LeaveToMeta(179.5),
        ),
        (command(accepted_ago=180), facts(), "enforce", CloseWindow()),
        (command(accepted_ago=HOUR), facts(projected_ago=24 * HOUR), "enforce", CloseWindow()),
        # pass_through: Meta decides every window.
        (command(accepted_ago=HOUR), facts(), "pass_through", None),
    ],
)
def test_opt_outs_and_the_24h_window(
    cmd: NotificationAccepted,
    recipient: RecipientFacts | None,
    mode: WindowMode,
    expected: object,
) -> None:
    verdict = decisions.on_recipient(cmd, recipient, NOW, mode, window_certain_after=180.0)
    assert verdict == expected


def test_a_window_closed_here_fails_as_meta_would() -> None:
    verdict = decisions.on_recipient(command(accepted_ago=HOUR), facts(), NOW, "enforce", 180.0)
    assert isinstance(verdict, CloseWindow)
    assert verdict.error.code == 131047
    assert verdict.error is WINDOW_CLOSED
    assert "checked before calling Meta" in (verdict.error.details or "")


@pytest.mark.parametrize(
    ("status", "mode", "accepted_ago", "expected"),
    [
        (None, "hold", 0.0, None),
        (None, "fail", 0.0, None),
        ("PAUSED", "hold", 10.0, Wait(60.0, "template")),
        ("DISABLED", "hold", HOUR, Wait(60.0, "template")),
        ("PAUSED", "hold", DAY, 132015),  # held as long as allowed: Meta's code
        ("PAUSED", "fail", 0.0, 132015),
        ("DISABLED", "fail", 0.0, 132016),
        ("REJECTED", "fail", 0.0, 132001),
        ("PENDING", "fail", 0.0, 132001),
    ],
)
def test_a_template_meta_stopped_sending_is_held_or_fails_with_its_code(
    status: str | None, mode: Literal["hold", "fail"], accepted_ago: float, expected: object
) -> None:
    cmd = command(message=TEMPLATE, accepted_ago=accepted_ago)
    verdict = decisions.on_template(cmd, status, NOW, mode, 60.0, DAY)
    if isinstance(expected, int):
        assert isinstance(verdict, StoppedTemplate)
        assert verdict.error.code == expected
        assert "checked before calling Meta" in (verdict.error.details or "")
    else:
        assert verdict == expected


def test_a_scheduled_send_s_hold_counts_from_when_it_was_due() -> None:
    cmd = command(message=TEMPLATE, accepted_ago=3 * DAY)
    scheduled = cmd.model_copy(
        update={"payload": cmd.payload.model_copy(update={"send_at": NOW - timedelta(hours=1)})}
    )
    assert decisions.on_template(scheduled, "PAUSED", NOW, "hold", 60.0, DAY) == Wait(
        60.0, "template"
    )
    assert isinstance(decisions.on_template(cmd, "PAUSED", NOW, "hold", 60.0, DAY), StoppedTemplate)


@pytest.mark.parametrize(
    ("message", "window_seen_ago", "counts"),
    [
        (TEMPLATE, None, True),  # no window: business-initiated
        (TEMPLATE, DAY + 1, True),  # the window closed
        (TEMPLATE, HOUR, False),  # inside the customer's window: not counted by Meta
        (TEXT, None, False),  # free-form text is never business-initiated
    ],
)
def test_only_templates_outside_the_window_count_toward_the_messaging_limit(
    message: dict[str, Any], window_seen_ago: float | None, counts: bool
) -> None:
    cmd = command(message=message)
    assert decisions.business_initiated(cmd, facts(projected_ago=window_seen_ago), NOW) is counts


def test_a_send_without_a_place_in_the_messaging_limit_waits_for_one() -> None:
    assert decisions.on_messaging_limit(None) is None
    assert decisions.on_messaging_limit(Place(True, 5)) is None
    assert decisions.on_messaging_limit(Place(False, 5, 42.0)) == Wait(42.0, "messaging_limit")


def test_meta_s_paused_answer_is_a_hold_while_paused_sends_are_held() -> None:
    paused = failed(132015)
    held = decisions.on_result(
        paused, attempt=1, probing=False, retry=POLICY, expires_at=None, now=NOW, paused_hold=60.0
    )
    assert held == HoldPaused(60.0)
    assert isinstance(result_of(paused), Fail)  # TEMPLATE_UNAVAILABLE=fail, or held too long
    disabled = decisions.on_result(
        failed(132016),
        attempt=1,
        probing=False,
        retry=POLICY,
        expires_at=None,
        now=NOW,
        paused_hold=60.0,
    )
    assert isinstance(disabled, Fail)  # disabled for good: never held


# --- the breaker and the throttle ---------------------------------------------------------

T = 1_000_000.0
OPEN = BreakerState(code=190, opened_at=T - 100, next_probe_at=T + 20, interval=30)
DUE = BreakerState(code=190, opened_at=T - 100, next_probe_at=T - 5, interval=30)


@pytest.mark.parametrize(
    ("state", "probe_won", "expected"),
    [
        (None, False, None),
        (OPEN, False, Wait(20.0, "breaker")),
        (DUE, True, None),
        (DUE, False, Wait(1.0, "breaker")),
        (BreakerState(190, T, T + 0.2, 30), False, Wait(1.0, "breaker")),
    ],
)
def test_an_open_breaker_holds_all_but_its_probe(
    state: BreakerState | None, probe_won: bool, expected: Wait | None
) -> None:
    assert decisions.on_breaker(state, probe_won, T) == expected


@pytest.mark.parametrize(
    ("admission", "expected"),
    [
        (Admission(0.0), Go(0.0)),
        (Admission(0.8), Go(0.8)),
        (Admission(4.5, "pair"), Wait(4.5, "pair")),
        (Admission(1.0, "sender"), Wait(1.0, "sender")),
    ],
)
def test_the_throttle_answer_waits_inline_or_in_the_queue(
    admission: Admission, expected: Go | Wait
) -> None:
    assert decisions.on_admission(admission) == expected


# --- the gate -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claim", "expected"),
    [
        (Claim(won=True, state=ClaimState.CLAIMED, attempts=1), Send(1)),
        (Claim(won=True, state=ClaimState.CLAIMED, attempts=3), Send(3)),
        (
            Claim(won=True, state=ClaimState.CLAIMED, attempts=2, unconfirmed_for=31.5),
            LookForStatuses(2, 31.5),
        ),
        (Claim(won=False, state=ClaimState.SENT, wamid="wamid.A"), ReportSent("wamid.A")),
        (Claim(won=False, state=ClaimState.SENT), Settled()),
        (Claim(won=False, state=ClaimState.CANCELLED), ReportCancelled()),
        (Claim(won=False, state=ClaimState.CLAIMED, lease_seconds_left=12.5), ComeBack(12.5)),
        (Claim(won=False, state=ClaimState.FAILED), Settled()),
        (Claim(won=False, state=ClaimState.EXPIRED), Settled()),
    ],
)
def test_the_gate_decides_who_sends(claim: Claim, expected: object) -> None:
    assert decisions.on_claim(claim) == expected


def test_a_live_claim_elsewhere_is_looked_at_again_after_its_lease() -> None:
    assert ComeBack(12.5).seconds == 13.5


@pytest.mark.parametrize(
    ("wamid", "unconfirmed_for", "expected"),
    [
        ("wamid.EARLIER", 31.0, ReportSent("wamid.EARLIER")),
        ("wamid.EARLIER", 500.0, ReportSent("wamid.EARLIER")),
        (None, 31.0, HoldClaim(decisions.TAKEOVER_POLL)),
        (None, 117.0, HoldClaim(3.0)),
        (None, 120.0, Resend(2)),
        (None, 300.0, Resend(2)),
    ],
)
def test_an_unconfirmed_attempt_is_resent_only_without_a_status_within_the_grace(
    wamid: str | None, unconfirmed_for: float, expected: object
) -> None:
    assert decisions.on_takeover(wamid, unconfirmed_for, grace=120.0, attempt=2) == expected


# --- Meta's answer ------------------------------------------------------------------------


def failed(code: int | str, *, unconfirmed: bool = False) -> SendResult:
    return SendResult(error=MetaError(code=code, title="t"), unconfirmed=unconfirmed)


def result_of(
    answer: SendResult,
    attempt: int = 1,
    *,
    probing: bool = False,
    expires_in: float | None = None,
) -> object:
    expires = None if expires_in is None else NOW + timedelta(seconds=expires_in)
    return decisions.on_result(
        answer,
        attempt=attempt,
        probing=probing,
        retry=POLICY,
        expires_at=expires,
        now=NOW,
        rng=random.Random(7),
    )


@pytest.mark.parametrize("probing", [False, True])
def test_a_wamid_is_sent_and_a_probe_closes_the_breaker(probing: bool) -> None:
    answer = SendResult(wamid="wamid.OK", wa_id="447700900123")
    assert result_of(answer, probing=probing) == Sent(answer, "wamid.OK", close_breaker=probing)


@pytest.mark.parametrize("code", [190, 368, 133010, "190"])
@pytest.mark.parametrize("attempt", [1, 4])
def test_a_sender_that_cannot_send_opens_its_breaker(code: int | str, attempt: int) -> None:
    assert result_of(failed(code), attempt) == OpenBreaker(int(code))


@pytest.mark.parametrize("attempt", [1, 4, 9])
def test_the_pair_limit_waits_for_the_recipient_whatever_the_attempt(attempt: int) -> None:
    assert result_of(failed(131056), attempt) == WaitForPair()


@pytest.mark.parametrize(
    ("code", "throttle"),
    [
        (4, False),
        (80007, False),
        (131000, False),
        (131016, False),
        (131057, False),
        (TRANSPORT_ERROR, False),
        (130429, True),
    ],
)
@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 2.0), (2, 4.0), (3, 8.0)])
def test_a_retryable_error_backs_off_with_full_jitter(
    code: int | str, throttle: bool, attempt: int, ceiling: float
) -> None:
    verdict = result_of(failed(code, unconfirmed=code == TRANSPORT_ERROR), attempt)
    assert isinstance(verdict, Retry)
    assert verdict.error.code == code
    assert verdict.attempt == attempt
    assert 0.0 <= verdict.delay <= ceiling
    assert verdict.delay == POLICY.delay(attempt, random.Random(7))
    assert verdict.next_attempt_at == NOW + timedelta(seconds=verdict.delay)
    assert verdict.unconfirmed is (code == TRANSPORT_ERROR)
    assert verdict.throttle is throttle


@pytest.mark.parametrize(("code", "throttle"), [(131000, False), (130429, True)])
def test_retryable_errors_give_up_after_the_last_attempt(code: int, throttle: bool) -> None:
    verdict = result_of(failed(code), attempt=4)
    assert isinstance(verdict, Fail)
    assert (verdict.error.code, verdict.attempts, verdict.throttle) == (
        MAX_ATTEMPTS_EXCEEDED,
        4,
        throttle,
    )
    assert verdict.error.details == f"last error {code}: t"


@pytest.mark.parametrize(("expires_in", "retried"), [(None, True), (3600.0, True), (0.5, False)])
def test_a_retry_never_goes_past_expires_at(expires_in: float | None, retried: bool) -> None:
    verdict = result_of(failed(131016), attempt=3, expires_in=expires_in)
    delay = POLICY.delay(3, random.Random(7))
    assert delay > 0.5  # with this seed, the third attempt's backoff outlives a 0.5 s expiry
    if retried:
        assert isinstance(verdict, Retry)
    else:
        assert isinstance(verdict, Fail)
        assert verdict.error.code == MAX_ATTEMPTS_EXCEEDED


@pytest.mark.parametrize(
    "code",
    [100, 131026, 131047, 131050, 131051, 131062, 132000, 132001, 999999, "http_404", "unknown"],
)
@pytest.mark.parametrize("attempt", [1, 4])
def test_any_other_error_fails_at_once_with_meta_s_own_error(code: int | str, attempt: int) -> None:
    answer = failed(code)
    assert result_of(answer, attempt) == Fail(answer.error or MetaError(code=0), attempt)


def test_an_answer_with_neither_wamid_nor_error_fails_as_unknown() -> None:
    verdict = result_of(SendResult())
    assert verdict == Fail(MetaError(code="unknown"), 1)


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        (131056, True),
        (130429, True),
        (131000, True),
        (TRANSPORT_ERROR, True),
        (190, False),
        (131050, False),
        (131062, False),
        ("unknown", False),
    ],
)
def test_is_retryable_reads_the_table(code: int | str, retryable: bool) -> None:
    assert decisions.is_retryable(code) is retryable
