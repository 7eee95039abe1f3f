from __future__ import annotations

from notif_core.privacy import mask_phone, scrub_phones


def test_mask_keeps_country_prefix_and_last_three() -> None:
    assert mask_phone("+447700900123") == "+4477••••123"
    assert mask_phone("15551234567") == "1555••••567"
    assert mask_phone("+12345") == "+••••"
    assert mask_phone(None) is None


def test_scrub_masks_numbers_inside_text() -> None:
    text = "send to +447700900123 failed, retry 3"
    assert scrub_phones(text) == "send to +4477••••123 failed, retry 3"
    assert "900123" not in scrub_phones(text)
