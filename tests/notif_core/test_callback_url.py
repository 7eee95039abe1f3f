"""Callback URLs: what the API accepts, the deliverer's client can send to."""

from __future__ import annotations

import pytest

from notif_core.callback_url import check, destination_problem, problem
from notif_core.egress import LOCAL, STRICT


@pytest.mark.parametrize(
    "url",
    [
        "https://client.example/hooks",
        "http://127.0.0.1:65535/hook?x=1",
        "http://[::1]:8080/hook",
        "https://user:pw@client.example:443/h",
    ],
)
def test_absolute_http_urls_with_a_host_pass(url: str) -> None:
    assert problem(url) is None
    assert check(url) == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:99999/x", "port"),
        ("http://127.0.0.1:0/x", "port"),
        ("http://host:abc/x", "port"),
        ("http://[::1/x", "well-formed"),
        ("http:///x", "host"),
        ("http://:80/x", "host"),
        ("ftp://host/x", "http"),
        ("/relative", "http"),
        ("http://a b/x", "whitespace"),
        ("http://xn--a/x", "well-formed"),
        ("https://h/" + "x" * 2048, "longer"),
    ],
)
def test_urls_no_client_could_use_are_refused_saying_why(url: str, reason: str) -> None:
    found = problem(url)
    assert found is not None
    assert reason in found
    with pytest.raises(ValueError, match=reason):
        check(url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:3001/metrics", "http://169.254.169.254/", "https://0x7f.1/"]
)
def test_whether_we_may_call_it_is_a_question_of_its_own(url: str) -> None:
    """``problem`` asks whether a client can use the URL: these are well-formed, and only the
    deployment's policy (``callback_url.refusal``, tests/notif_core/test_egress.py) refuses
    them, as ``callback_url_not_allowed`` rather than a validation error."""
    assert problem(url) is None
    assert destination_problem(url, STRICT) is not None


@pytest.mark.parametrize("url", ["http://[::1/x", "/relative", "http:///x", "ftp://127.0.0.1/"])
def test_the_policy_judges_a_non_url_without_raising(url: str) -> None:
    destination_problem(url, STRICT)
    destination_problem(url, LOCAL)
