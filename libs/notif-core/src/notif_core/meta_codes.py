"""Meta's error codes by name, and the one table of what each one makes us do.

Meta asks integrators to decide on the numeric ``code`` (and ``details``), never on HTTP
status or titles, which it will deprecate. The dispatcher reads :func:`reaction` to decide
what a failed send becomes, and the ledger reads it to learn which failure is an opt-out;
no other module compares against a code number.

Titles and meanings are those of Meta's error-code page, :data:`ERROR_CODES_PAGE`, unless a
member says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum, IntEnum
from types import MappingProxyType
from typing import Final

ERROR_CODES_PAGE: Final = (
    "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes"
)
"""Meta's Cloud API error-code reference: the source of every member of :class:`MetaCode`."""


class MetaCode(IntEnum):
    """A Cloud API error code, named after its title on :data:`ERROR_CODES_PAGE`.

    An ``IntEnum``: a member equals the number Meta sends, so events and stored errors keep
    carrying plain integers."""

    API_TOO_MANY_CALLS = 4
    """"API Too Many Calls" (ERROR_CODES_PAGE): the app reached its API call rate limit."""
    INVALID_PARAMETER = 100
    """"Invalid parameter" (ERROR_CODES_PAGE): the request has an unsupported or misspelled
    parameter."""
    ACCESS_TOKEN_EXPIRED = 190
    """"Access token has expired" (ERROR_CODES_PAGE): the sender's token is expired or
    invalid; nothing it sends can succeed until it is replaced."""
    TEMPORARILY_BLOCKED_FOR_POLICIES_VIOLATIONS = 368
    """"Temporarily blocked for policies violations" (ERROR_CODES_PAGE): the WABA is
    blocked from sending for a while."""
    RATE_LIMIT_ISSUES = 80007
    """"Rate limit issues" (ERROR_CODES_PAGE): the WABA reached its rate limit."""
    RATE_LIMIT_HIT = 130429
    """"Rate limit hit" (ERROR_CODES_PAGE): the sender number's Cloud API throughput
    (80 messages/s by default) is reached."""
    SOMETHING_WENT_WRONG = 131000
    """"Something went wrong" (ERROR_CODES_PAGE): an unknown error on Meta's side; a retry
    may send twice, since the Cloud API has no idempotency key."""
    SERVICE_UNAVAILABLE = 131016
    """"Service unavailable" (ERROR_CODES_PAGE): the Cloud API is temporarily down or
    overloaded."""
    MESSAGE_UNDELIVERABLE = 131026
    """"Message Undeliverable" (ERROR_CODES_PAGE): the recipient is not on WhatsApp, has an
    old client, or has not accepted Meta's terms."""
    RECIPIENT_NOT_IN_ALLOWED_LIST = 131030
    """"Recipient phone number not in allowed list" (ERROR_CODES_PAGE): a test number may
    send only to the numbers listed for it."""
    RE_ENGAGEMENT_MESSAGE = 131047
    """"Re-engagement message" (ERROR_CODES_PAGE): more than 24 hours since the recipient
    last wrote; only a template may open the conversation."""
    SPAM_RATE_LIMIT_HIT = 131048
    """"Spam rate limit hit" (ERROR_CODES_PAGE): sends restricted because too many earlier
    messages were blocked or flagged as spam."""
    HEALTHY_ECOSYSTEM_ENGAGEMENT = 131049
    """"This message was not delivered to maintain healthy ecosystem engagement"
    (ERROR_CODES_PAGE): Meta's per-user marketing limit; not an opt-out."""
    USER_STOPPED_MARKETING_MESSAGES = 131050
    """"Unable to deliver the message. This recipient has chosen to stop receiving marketing
    messages on WhatsApp from your business" (ERROR_CODES_PAGE): an opt-out from marketing,
    which the business must honour."""
    UNSUPPORTED_MESSAGE_TYPE = 131051
    """"Unsupported message type" (ERROR_CODES_PAGE)."""
    MEDIA_UPLOAD_ERROR = 131053
    """"Media upload error" (ERROR_CODES_PAGE): the media could not be processed."""
    PAIR_RATE_LIMIT_HIT = 131056
    """"(Business Account, Consumer Account) pair rate limit hit" (ERROR_CODES_PAGE): too many
    messages from this sender to this recipient in a short time; other recipients are not
    affected."""
    ACCOUNT_IN_MAINTENANCE_MODE = 131057
    """"Account in maintenance mode" (ERROR_CODES_PAGE): the sender number is briefly
    unavailable, e.g. during a throughput upgrade."""
    BSUID_RECIPIENT_NOT_SUPPORTED = 131062
    """"Business-scoped User ID recipients are not supported for this message": the message
    kind needs a phone number (one-tap, zero-tap and copy-code authentication templates).
    Not yet on ERROR_CODES_PAGE; reported by partners documenting Meta's BSUID changes
    (Dualhook, https://dualhook.com/docs/contacts-bsuid-api-changes ; YCloud,
    https://docs.ycloud.com/reference/webhook-updates-bsuid )."""
    TEMPLATE_PARAM_COUNT_MISMATCH = 132000
    """"Template Param Count Mismatch" (ERROR_CODES_PAGE)."""
    TEMPLATE_DOES_NOT_EXIST = 132001
    """"Template does not exist" (ERROR_CODES_PAGE): not in that language, or not approved."""
    TEMPLATE_PARAMETER_FORMAT_MISMATCH = 132012
    """"Template Parameter Format Mismatch" (ERROR_CODES_PAGE)."""
    TEMPLATE_IS_PAUSED = 132015
    """"Template is Paused" (ERROR_CODES_PAGE): paused for low quality."""
    TEMPLATE_IS_DISABLED = 132016
    """"Template is Disabled" (ERROR_CODES_PAGE)."""
    PHONE_NUMBER_NOT_REGISTERED = 133010
    """"Phone number Not Registered" (ERROR_CODES_PAGE): the sender number is not registered
    on the Cloud API."""


TRANSPORT_ERROR: Final = "transport_error"
"""Our code (never Meta's) for a timeout or connection failure on the way to Meta."""


class Reaction(Enum):
    """What a failed send makes the dispatcher do (and, for an opt-out, the ledger)."""

    RETRY = "retry"
    """Back off (full jitter) and send again, up to ``MAX_ATTEMPTS``, never past
    ``expires_at``; then ``failed`` with ``max_attempts_exceeded``."""
    THROTTLE = "throttle"
    """The sender's rate is over Meta's cap: lower it (AIMD), then as :attr:`RETRY`."""
    PAIR_LIMIT = "pair_limit"
    """This recipient waits another pair interval; no backoff, other recipients go on."""
    BREAKER = "breaker"
    """The sender cannot send at all: its circuit breaker opens, the attempt does not count,
    and its messages wait for a probe to succeed."""
    TERMINAL = "terminal"
    """``failed`` at once with Meta's code, title and details."""
    OPT_OUT = "opt_out"
    """As :attr:`TERMINAL` for the send; the ledger also suppresses marketing to the
    recipient from the number that sent."""


DEFAULT: Final = Reaction.TERMINAL
"""A code missing from :data:`REACTIONS` fails the notification at once."""

REACTIONS: Final[Mapping[int | str, Reaction]] = MappingProxyType(
    {
        MetaCode.API_TOO_MANY_CALLS: Reaction.RETRY,
        MetaCode.RATE_LIMIT_ISSUES: Reaction.RETRY,
        MetaCode.SOMETHING_WENT_WRONG: Reaction.RETRY,
        MetaCode.SERVICE_UNAVAILABLE: Reaction.RETRY,
        MetaCode.ACCOUNT_IN_MAINTENANCE_MODE: Reaction.RETRY,
        TRANSPORT_ERROR: Reaction.RETRY,
        MetaCode.RATE_LIMIT_HIT: Reaction.THROTTLE,
        MetaCode.PAIR_RATE_LIMIT_HIT: Reaction.PAIR_LIMIT,
        MetaCode.ACCESS_TOKEN_EXPIRED: Reaction.BREAKER,
        MetaCode.TEMPORARILY_BLOCKED_FOR_POLICIES_VIOLATIONS: Reaction.BREAKER,
        MetaCode.PHONE_NUMBER_NOT_REGISTERED: Reaction.BREAKER,
        MetaCode.USER_STOPPED_MARKETING_MESSAGES: Reaction.OPT_OUT,
        MetaCode.INVALID_PARAMETER: Reaction.TERMINAL,
        MetaCode.MESSAGE_UNDELIVERABLE: Reaction.TERMINAL,
        MetaCode.RECIPIENT_NOT_IN_ALLOWED_LIST: Reaction.TERMINAL,
        MetaCode.RE_ENGAGEMENT_MESSAGE: Reaction.TERMINAL,
        MetaCode.SPAM_RATE_LIMIT_HIT: Reaction.TERMINAL,
        MetaCode.HEALTHY_ECOSYSTEM_ENGAGEMENT: Reaction.TERMINAL,
        MetaCode.UNSUPPORTED_MESSAGE_TYPE: Reaction.TERMINAL,
        MetaCode.MEDIA_UPLOAD_ERROR: Reaction.TERMINAL,
        MetaCode.BSUID_RECIPIENT_NOT_SUPPORTED: Reaction.TERMINAL,
        MetaCode.TEMPLATE_PARAM_COUNT_MISMATCH: Reaction.TERMINAL,
        MetaCode.TEMPLATE_DOES_NOT_EXIST: Reaction.TERMINAL,
        MetaCode.TEMPLATE_PARAMETER_FORMAT_MISMATCH: Reaction.TERMINAL,
        MetaCode.TEMPLATE_IS_PAUSED: Reaction.TERMINAL,
        MetaCode.TEMPLATE_IS_DISABLED: Reaction.TERMINAL,
    }
)
"""Every named code's reaction, and our transport error's. Codes that end as
:data:`DEFAULT` anyway are listed too, so the table reads as the whole policy."""


def reaction(code: int | str) -> Reaction:
    """What ``code`` makes us do: :data:`REACTIONS`, else :data:`DEFAULT`.

    Meta's code is a number whichever JSON type carried it, so ``"131050"`` is 131050."""
    if isinstance(code, str) and code.isascii() and code.isdigit():
        return REACTIONS.get(int(code), DEFAULT)
    return REACTIONS.get(code, DEFAULT)
