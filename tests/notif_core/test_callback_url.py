"""Callback URLs: what the API accepts, the deliverer's client can send to."""

from __future__ import annotations

import pytest

from notif_core.callback_url import check, problem


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
