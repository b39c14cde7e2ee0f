"""PII redaction at ingest: what must be masked, and the near-misses that must survive untouched."""

from __future__ import annotations

import importlib
import json
import random
import re
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from stdnum import luhn

from apps.common.redaction import (
    ALL_KINDS,
    CARD,
    DIGITS,
    EMAIL,
    PHONE,
    SSN,
    Redaction,
    redact,
    redact_configured,
)

generated = hypothesis_settings(max_examples=200, deadline=None)

PLAIN_WORDS = (
    "please",
    "my",
    "card",
    "is",
    "thanks",
    "the",
    "number",
    "account",
    "hello",
    "charge",
    "it",
    "to",
    "call",
    "me",
    "at",
    "send",
    "mail",
    "yes",
    "okay",
    "uh",
    "so",
    "that's",
    "ref",
)
NUMBER_WORDS = (
    "zero",
    "oh",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
)
DIGITS_TO_WORDS = dict(zip("0123456789", NUMBER_WORDS[:1] + NUMBER_WORDS[2:], strict=True))

plain_words = st.lists(st.sampled_from(PLAIN_WORDS), min_size=1, max_size=6).map(" ".join)
closers = st.sampled_from(["", ".", ",", "?", "!"])


@st.composite
def in_sentence(draw: st.DrawFn, inner: st.SearchStrategy[str]) -> tuple[str, str, str]:
    """(before, the value, after): the value between plain words, maybe before a closer."""
    before = draw(plain_words) + " "
    after = draw(closers) + " " + draw(plain_words)
    return before, draw(inner), after


@st.composite
def grouped(draw: st.DrawFn, digits: str) -> str:
    """The digits as people write them: contiguous, in fours, or split anywhere by " " or "-"."""
    style = draw(st.sampled_from(["plain", "fours", "random"]))
    if style == "plain":
        return digits
    if style == "fours":
        sep = draw(st.sampled_from([" ", "-"]))
        return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))
    seps = draw(
        st.lists(
            st.sampled_from(["", " ", "-"]), min_size=len(digits) - 1, max_size=len(digits) - 1
        )
    )
    return digits[0] + "".join(sep + digit for sep, digit in zip(seps, digits[1:], strict=True))


@st.composite
def luhn_numbers(draw: st.DrawFn) -> str:
    length = draw(st.integers(min_value=13, max_value=19))
    body = draw(st.text("0123456789", min_size=length - 1, max_size=length - 1))
    return body + luhn.calc_check_digit(body)


def with_one_digit_changed(draw: st.DrawFn, number: str) -> str:
    where = draw(st.integers(min_value=0, max_value=len(number) - 1))
    new = draw(st.sampled_from([d for d in "0123456789" if d != number[where]]))
    return number[:where] + new + number[where + 1 :]


def digits_of(text: str) -> str:
    return re.sub(r"\D", "", text)


# Cards ---------------------------------------------------------------------------------------


@generated
@given(data=st.data())
def test_luhn_valid_card_numbers_are_masked_with_any_grouping(data: st.DataObject) -> None:
    number = data.draw(luhn_numbers())
    before, written, after = data.draw(in_sentence(grouped(number)))

    result = redact(before + written + after)

    assert result.text == before + "[CARD]" + after
    assert result.counts == {CARD: 1}
    assert number not in digits_of(result.text)


@generated
@given(data=st.data())
def test_luhn_invalid_card_numbers_are_not_cards(data: st.DataObject) -> None:
    number = with_one_digit_changed(data.draw, data.draw(luhn_numbers()))
    assert not luhn.is_valid(number)
    before, written, after = data.draw(in_sentence(grouped(number)))

    result = redact(before + written + after)

    assert "[CARD]" not in result.text
    assert CARD not in result.counts


@pytest.mark.parametrize(
    "written",
    ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "3782 822463 10005"],
)
def test_card_numbers_as_customers_write_them_are_masked(written: str) -> None:
    assert redact(f"my card is {written}, thanks").text == "my card is [CARD], thanks"


def test_luhn_invalid_sixteen_digits_are_masked_as_digits_not_card() -> None:
    assert redact("card 4111 1111 1111 1112 ok") == Redaction("card [DIGITS] ok", {DIGITS: 1})


def test_a_luhn_valid_card_inside_a_longer_digit_run_is_not_a_card() -> None:
    assert redact("ref 4111 1111 1111 1111 0000") == Redaction("ref [DIGITS]", {DIGITS: 1})


def test_a_luhn_valid_run_after_plus_is_a_phone_number_not_a_card() -> None:
    assert "[CARD]" not in redact("call +86 138 0013 8000").text


# SSNs ----------------------------------------------------------------------------------------

PUBLISHED_SSNS = {"078-05-1120", "457-55-5462", "219-09-9999"}


@generated
@given(
    area=st.integers(1, 899).filter(lambda area: area != 666),
    group=st.integers(1, 99),
    serial=st.integers(1, 9999),
    sep=st.sampled_from(["-", " "]),
    data=st.data(),
)
def test_issuable_ssns_are_masked(
    area: int, group: int, serial: int, sep: str, data: st.DataObject
) -> None:
    ssn = f"{area:03d}-{group:02d}-{serial:04d}"
    assume(ssn not in PUBLISHED_SSNS)
    before, written, after = data.draw(in_sentence(st.just(ssn.replace("-", sep))))

    result = redact(before + written + after)

    assert result == Redaction(before + "[SSN]" + after, {SSN: 1})


@st.composite
def never_issued_ssns(draw: st.DrawFn) -> str:
    area = draw(st.integers(1, 899).filter(lambda area: area != 666))
    group = draw(st.integers(1, 99))
    serial = draw(st.integers(1, 9999))
    flaw = draw(st.sampled_from(["area 000", "area 666", "area 9xx", "group 00", "serial 0000"]))
    if flaw == "area 000":
        area = 0
    elif flaw == "area 666":
        area = 666
    elif flaw == "area 9xx":
        area = draw(st.integers(900, 999))
    elif flaw == "group 00":
        group = 0
    else:
        serial = 0
    return f"{area:03d}-{group:02d}-{serial:04d}"


@generated
@given(ssn=never_issued_ssns(), data=st.data())
def test_never_issued_ssns_are_not_ssns_but_still_masked_as_digits(
    ssn: str, data: st.DataObject
) -> None:
    before, written, after = data.draw(in_sentence(st.just(ssn)))

    result = redact(before + written + after)

    assert result == Redaction(before + "[DIGITS]" + after, {DIGITS: 1})


def test_nine_bare_digits_are_an_ssn_only_after_ssn_or_social() -> None:
    assert redact("my social is 123456789").text == "my social is [SSN]"
    assert redact("SSN: 123456789").text == "SSN: [SSN]"
    assert redact("tracking 123456789").text == "tracking [DIGITS]"


# Email and phone -----------------------------------------------------------------------------


@generated
@given(email=st.emails(), data=st.data())
def test_email_addresses_are_masked(email: str, data: st.DataObject) -> None:
    before, written, after = data.draw(in_sentence(st.just(email)))

    result = redact(before + written + after)

    assert result == Redaction(before + "[EMAIL]" + after, {EMAIL: 1})


AREA_CODES = ("201", "202", "212", "213", "305", "312", "415", "512", "617", "702", "713", "917")
PHONE_FORMATS = (
    "({a}) {e}-{n}",
    "{a}-{e}-{n}",
    "{a}.{e}.{n}",
    "{a} {e} {n}",
    "{a}{e}{n}",
    "+1 {a} {e} {n}",
    "+1 ({a}) {e}-{n}",
    "1-{a}-{e}-{n}",
    "+1{a}{e}{n}",
)


@generated
@given(
    area=st.sampled_from(AREA_CODES),
    exchange=st.integers(200, 999).filter(lambda e: e % 100 != 11),  # N11 are service codes
    line=st.integers(0, 9999),
    layout=st.sampled_from(PHONE_FORMATS),
    data=st.data(),
)
def test_us_phone_numbers_are_masked_in_common_formats(
    area: str, exchange: int, line: int, layout: str, data: st.DataObject
) -> None:
    phone = layout.format(a=area, e=exchange, n=f"{line:04d}")
    before, written, after = data.draw(in_sentence(st.just(phone)))

    result = redact(before + written + after)

    assert result == Redaction(before + "[PHONE]" + after, {PHONE: 1})


@pytest.mark.parametrize(
    "phone", ["+1 415 555 0100", "(415) 555-0100", "415-555-0100", "+44 20 7946 0958"]
)
def test_phone_numbers_from_the_issue_are_masked(phone: str) -> None:
    assert redact(f"reach me on {phone} today").text == "reach me on [PHONE] today"


def test_unassigned_phone_shaped_numbers_are_masked_as_digits() -> None:
    assert redact("call 123-456-7890").text == "call [DIGITS]"


# Spoken digits -------------------------------------------------------------------------------


def spoken(digits: str) -> str:
    return " ".join(DIGITS_TO_WORDS[digit] for digit in digits)


@generated
@given(digits=st.text("0123456789", min_size=6, max_size=12), data=st.data())
def test_spoken_digit_runs_of_six_or_more_are_masked(digits: str, data: st.DataObject) -> None:
    before, written, after = data.draw(in_sentence(st.just(spoken(digits))))

    result = redact(before + written + after)

    # Ten or eleven digits that make a valid NANP number are labelled PHONE.
    label = next(iter(result.counts))
    assert label in {DIGITS, PHONE}
    assert result == Redaction(f"{before}[{label}]{after}", {label: 1})


@generated
@given(number=luhn_numbers(), data=st.data())
def test_spoken_card_numbers_are_masked_as_cards(number: str, data: st.DataObject) -> None:
    before, written, after = data.draw(in_sentence(st.just(spoken(number))))

    assert redact(before + written + after) == Redaction(before + "[CARD]" + after, {CARD: 1})


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("my account number is one two three four five six seven eight", "my account number is "),
        ("it's double five six seven eight nine", "it's "),
        ("five zero seven uh zero zero one eight", ""),
        ("four-one-one, two-three-four", ""),
        ("Nine Eight Seven Six Five Four", ""),
    ],
)
def test_spoken_runs_with_repeats_fillers_and_punctuation_are_masked(
    said: str, expected: str
) -> None:
    assert redact(said) == Redaction(expected + "[DIGITS]", {DIGITS: 1})


def test_spoken_ssn_after_social_is_an_ssn() -> None:
    said = "my social is one two three four five six seven eight nine"
    assert redact(said).text == "my social is [SSN]"


def test_oh_oh_oh_is_an_exclamation_not_zeros() -> None:
    assert redact("oh oh oh oh oh oh oh").text == "oh oh oh oh oh oh oh"


# Near-misses: must survive untouched ---------------------------------------------------------

years = st.integers(1900, 2099).map(lambda year: f"in {year}")
times = st.builds(
    lambda h, m, suffix: f"at {h}:{m:02d}{suffix}",
    st.integers(0, 23),
    st.integers(0, 59),
    st.sampled_from(["", " am", " pm", "pm"]),
)
amounts = st.builds(
    lambda n, cents, cur: f"for {cur}{n:,}.{cents:02d}",
    st.integers(0, 10**9),
    st.integers(0, 99),
    st.sampled_from(["$", "£", "€", ""]),
)
dates = st.builds(
    lambda y, m, d, layout: "on " + layout.format(y=y, m=m, d=d),
    st.integers(1900, 2099),
    st.integers(1, 12),
    st.integers(1, 28),
    st.sampled_from(
        [
            "{m:02d}/{d:02d}/{y}",
            "{m}/{d}/{y}",
            "{y}-{m:02d}-{d:02d}",
            "{m:02d}-{d:02d}-{y}",
            "{y}-{m:02d}-{d:02d} 10:30",
        ]
    ),
)
year_ranges = st.integers(1990, 2098).map(lambda y: f"fiscal {y}-{y + 1}")
short_references = st.integers(0, 9_999_999).map(lambda n: f"order {n}")
versions = st.builds(
    lambda a, b, c: f"version {a}.{b}.{c}",
    st.integers(0, 99),
    st.integers(0, 99),
    st.integers(0, 999),
)
vague_counts = st.sampled_from(
    [
        "maybe one or two things",
        "just one",
        "only two of them",
        "it took three to five days",
        "a new one",
        "nine thirty a m",
    ]
)
short_spoken_runs = st.text("0123456789", min_size=1, max_size=5).map(
    lambda digits: "zip " + spoken(digits)
)
near_misses = st.one_of(
    years,
    times,
    amounts,
    dates,
    year_ranges,
    short_references,
    versions,
    vague_counts,
    short_spoken_runs,
)


@generated
@given(
    phrases=st.lists(near_misses, min_size=1, max_size=4),
    words=plain_words,
    closer=closers,
)
def test_near_misses_survive_untouched(phrases: list[str], words: str, closer: str) -> None:
    text = words + " " + " and ".join(phrases) + closer

    assert redact(text) == Redaction(text)


@pytest.mark.parametrize(
    "text",
    [
        "pi is 3.14159265358979",
        "invoice INV12345678 is paid",
        "we moved $12,345,678.90",
        "call me at 10:30 on 12/05/2023",
        "one",
        "ip 192.168.100.200",
    ],
)
def test_identifiers_glued_to_letters_decimals_and_punctuated_figures_survive(text: str) -> None:
    assert redact(text) == Redaction(text)


@generated
@given(digits=st.text("0123456789", min_size=1, max_size=7), words=plain_words)
def test_figure_runs_shorter_than_eight_survive(digits: str, words: str) -> None:
    text = f"{words} {digits} {words}"
    assert redact(text) == Redaction(text)


def test_seven_digit_service_numbers_are_not_phone_numbers() -> None:
    # phonenumbers calls 310-XXXX valid in the US; without an area code it is just a figure.
    assert redact("please 3106081 please") == Redaction("please 3106081 please")


# Configuration -------------------------------------------------------------------------------


def test_only_the_requested_kinds_are_masked() -> None:
    text = "card 4111 1111 1111 1111 mail a@example.com"
    assert redact(text, kinds=frozenset({EMAIL})).text == "card 4111 1111 1111 1111 mail [EMAIL]"


def test_a_card_is_masked_as_digits_when_card_detection_is_off() -> None:
    assert redact("card 4111111111111111", kinds=ALL_KINDS - {CARD}).text == "card [DIGITS]"


def test_unknown_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="PASSPORT"):
        redact("x", kinds=frozenset({"PASSPORT"}))


def test_min_digits_sets_the_spoken_run_threshold() -> None:
    said = "code four three two one"
    assert redact(said).text == said
    assert redact(said, min_digits=4).text == "code [DIGITS]"


def test_redact_configured_follows_the_settings(settings) -> None:
    text = "mail a@example.com code one two three four"
    assert redact_configured(text).text == "mail [EMAIL] code one two three four"

    settings.PII_MIN_DIGIT_RUN = 4
    assert redact_configured(text).text == "mail [EMAIL] code [DIGITS]"

    settings.PII_REDACTION_KINDS = ["digits"]
    assert redact_configured(text).text == "mail a@example.com code [DIGITS]"

    settings.PII_REDACTION_ENABLED = False
    assert redact_configured(text) == Redaction(text)


def test_unknown_kinds_in_the_environment_stop_the_start(monkeypatch) -> None:
    import ccportal.settings.privacy as privacy

    monkeypatch.setenv("PII_REDACTION_KINDS", "CARD,PASSPORT")
    try:
        with pytest.raises(ImproperlyConfigured, match="PASSPORT"):
            importlib.reload(privacy)
    finally:
        monkeypatch.delenv("PII_REDACTION_KINDS")
        importlib.reload(privacy)
    assert privacy.PII_REDACTION_KINDS == ["CARD", "SSN", "EMAIL", "PHONE", "DIGITS"]


# Real utterances from the Harper Valley demo calls -------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
DEMO_CALLS = next(
    (
        path
        for path in (
            ROOT / "apps/demo/data/harper-valley/conversations.jsonl",
            ROOT.parent / "shared/data/harper-valley/conversations.jsonl",
        )
        if path.exists()
    ),
    None,
)
HAS_NUMBER = re.compile(rf"\d|\b(?:{'|'.join(NUMBER_WORDS)}|o)\b", re.IGNORECASE)


def demo_utterances() -> list[str]:
    if DEMO_CALLS is None:
        pytest.skip("the Harper Valley demo calls are not on this machine")
    with DEMO_CALLS.open() as lines:
        return [seg["text"] for line in lines for seg in json.loads(line)["segments"]]


def test_demo_utterances_without_digits_or_number_words_come_back_unchanged() -> None:
    plain = [text for text in demo_utterances() if not HAS_NUMBER.search(text)]
    assert len(plain) > 1000
    for text in plain:
        assert redact(text).text is text


def test_demo_utterances_lose_only_spoken_digit_runs(capsys) -> None:
    utterances = demo_utterances()
    sample = random.Random(200).sample(utterances, 200) + [
        text for text in utterances if HAS_NUMBER.search(text)
    ]
    masked = {text: redact(text) for text in sample}

    with capsys.disabled():
        for text, result in masked.items():
            if result.redacted:
                print(f"\n  {text!r}\n    -> {result.text!r}")
    assert {kind for result in masked.values() for kind in result.counts} == {DIGITS}


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        (
            "my phone number is eight eight four five nine zero seven four four three",
            "my phone number is [DIGITS]",
        ),
        (
            "okay so that's one two nine three five three seven four zero two",
            "okay so that's [DIGITS]",
        ),
        ("zero zero zero one eight nine two", "[DIGITS]"),
        ("can you repeat the zip code did you say four one nine one two", None),
        ("alright your balance is a hundred and thirty four dollars", None),
        ("the branch hours are nine thirty am to five p m", None),
        ("uh nine ten first street forest ranch california seven eight three eleven", None),
        ("i lost my credit card can you send me a new one", None),
    ],
)
def test_demo_utterances_mask_account_and_phone_numbers_but_not_amounts_or_zip_codes(
    said: str, expected: str | None
) -> None:
    assert redact(said).text == (said if expected is None else expected)


def test_redact_data_masks_strings_in_json_but_not_identifiers_or_keys():
    from apps.common.redaction import redact_data

    data = {
        "text": "card 4111 1111 1111 1111",
        "paid": "mail nora@example.com",
        "conversationId": "4111111111111111",
        "call_sid": "CA4111111111111111",
        "dateCreated": "2026-05-18 12:00",
        "items": [{"quote": "nora@example.com", "criteria_key": "nora@example.com"}],
        "score": 4111111111111111,
    }
    redacted, counts = redact_data(data)
    assert redacted == {
        "text": "card [CARD]",
        "paid": "mail [EMAIL]",
        "conversationId": "4111111111111111",
        "call_sid": "CA4111111111111111",
        "dateCreated": "2026-05-18 12:00",
        "items": [{"quote": "[EMAIL]", "criteria_key": "nora@example.com"}],
        "score": 4111111111111111,
    }
    assert counts == {"CARD": 1, "EMAIL": 2}
