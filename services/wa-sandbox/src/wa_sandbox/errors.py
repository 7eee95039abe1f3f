"""Cloud API errors as the sandbox raises them, and the codes shared across modules.

Codes from Meta's "Cloud API error codes" page: 100 invalid parameter, 131008 required
parameter is missing, 131009 parameter value is not valid.
"""

from __future__ import annotations


class SendRejected(Exception):
    """A synchronous Cloud API error: HTTP status, Meta code, message and details."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        details: str,
        subcode: int | None = None,
        error_type: str = "OAuthException",
    ) -> None:
        super().__init__(f"({code}) {message}: {details}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.subcode = subcode
        self.error_type = error_type


def invalid(details: str) -> SendRejected:
    """100 "Invalid parameter"."""
    return SendRejected(400, 100, "Invalid parameter", details)


def missing(details: str) -> SendRejected:
    """131008 "Required parameter is missing"."""
    return SendRejected(400, 131008, "Required parameter is missing", details)


def not_valid(details: str) -> SendRejected:
    """131009 "Parameter value is not valid"."""
    return SendRejected(400, 131009, "Parameter value is not valid", details)


def no_object(object_id: str, method: str = "get") -> SendRejected:
    """Meta's answer to an id it does not know (or the token may not see, or a media id
    that expired or was deleted): 100, subcode 33, ``GraphMethodException``."""
    unsupported = (
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot "
        "be loaded due to missing permissions, or does not support this operation. "
        "Please read the Graph API documentation at "
        "https://developers.facebook.com/docs/graph-api"
    )
    return SendRejected(
        400, 100, unsupported, unsupported, subcode=33, error_type="GraphMethodException"
    )
