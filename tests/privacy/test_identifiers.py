"""How an erasure request spells the customer's address: as Twilio stores it."""

from __future__ import annotations

import pytest

from apps.privacy.services import address_canonical, address_variants, identifier_hash


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("(555) 010-0199", "+15550100199"),
        ("+1 555 010 0199", "+15550100199"),
        ("whatsapp:+15550100199", "+15550100199"),
        ("+44 20 7946 0958", "+442079460958"),
        ("Pat.Customer@Example.com", "pat.customer@example.com"),
        ("mailto:pat@example.com", "pat@example.com"),
        ("client:agent_pat", "client:agent_pat"),
    ],
)
def test_address_canonical_is_e164_or_lower_case_email(raw, canonical):
    assert address_canonical(raw) == canonical


def test_address_variants_cover_the_channel_prefixes_twilio_stores():
    variants = address_variants("(555) 010-0199")
    assert {"+15550100199", "whatsapp:+15550100199", "sms:+15550100199"} <= set(variants)
    assert "(555) 010-0199" in variants


def test_identifier_hash_is_keyed_and_the_same_for_every_spelling(settings):
    one = identifier_hash("customer", address_canonical("(555) 010-0199"))
    assert one == identifier_hash("customer", address_canonical("+1 555 010 0199"))
    assert "5550100199" not in one
    settings.SECRET_KEY = "another-secret-key-of-sufficient-length-0123456789"
    assert identifier_hash("customer", "+15550100199") != one
