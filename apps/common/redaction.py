"""PII redaction for text at ingest: mask it before anything else reads or stores it.

``redact(text)`` replaces card numbers, US Social Security numbers, email addresses, phone
numbers and long digit runs (figures, or words as a speech recogniser writes them) with
``[CARD]``, ``[SSN]``, ``[EMAIL]``, ``[PHONE]`` and ``[DIGITS]``, and counts what it masked.
``redact_configured(text)`` does the same under the ``PII_REDACTION_*`` settings.

Detectors run in this order on the text the previous ones left; a mask holds no digits, so a
later detector never sees what an earlier one took:

1. EMAIL  - ``local@domain.tld`` (RFC 5322 atext in the local part), first because a local part
   may itself hold a card-length digit run.
2. CARD   - 13-19 digits, optionally split by single spaces or dashes, that pass the Luhn check.
   A run right after ``+`` is an international phone number, never a card.
3. SSN    - ``AAA-GG-SSSS`` or ``AAA GG SSSS`` that the SSA could have issued (not area 000, 666
   or 9xx, group 00, serial 0000, nor the well-known published numbers; python-stdnum's rules).
   Nine bare digits are an SSN only when "ssn" or "social (security)" comes shortly before them;
   otherwise they are still masked, as DIGITS.
4. PHONE  - what ``phonenumbers``' matcher finds at leniency VALID, default region US (NANP
   numbers, and any number written with ``+`` and a country code). POSSIBLE also took plain
   amounts such as "1250000" and seven-digit fragments, so it is not used.
5. DIGITS - a) number words in a run (zero/oh/o, one..nine, "double"/"triple" <digit>; separated
   by spaces, dashes or commas, with "uh"/"um" allowed between them) of at least ``min_digits``
   digits (default 6). Such a run is labelled CARD when it has 13-19 digits and passes Luhn,
   SSN as above with context, and PHONE when it is a valid NANP number, provided those kinds are
   enabled. b) figures: digit groups joined by single spaces or dashes with at least
   max(8, ``min_digits``) digits that no detector above claimed: so a Luhn-invalid 16-digit
   number, an invalid SSN such as 000-12-3456 and an unassigned phone number are still masked,
   as DIGITS. Commas and dots do not join groups (amounts, versions, times), a run glued to
   letters is an identifier and is kept ("INV12345678"), and dates and year ranges written with
   dashes ("2023-12-05", "12-05-2023", "2023-2024") are kept.

A disabled kind is simply not detected: with CARD off, a card number is masked as DIGITS.

Not masked: years, times, amounts ("$1,250.00"), dates, versions, short reference numbers
("order 4521"), single number words and short spoken runs (a five-digit ZIP code), and numbers
that a transcript splits across utterances: redaction works on one text at a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher
from stdnum import luhn
from stdnum.us import ssn as us_ssn

CARD = "CARD"
SSN = "SSN"
EMAIL = "EMAIL"
PHONE = "PHONE"
DIGITS = "DIGITS"
ALL_KINDS: frozenset[str] = frozenset({CARD, SSN, EMAIL, PHONE, DIGITS})

DEFAULT_MIN_DIGIT_RUN = 6
# Figures are everywhere in ordinary text (amounts, dates, order numbers), so they need a longer
# run than spoken digits before they count as an identifier.
FIGURE_MIN_DIGIT_RUN = 8
PHONE_REGION = "US"


@dataclass(frozen=True, slots=True)
class Redaction:
    """The masked text and how many of each kind were masked (kinds with none are absent)."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def redacted(self) -> bool:
        return bool(self.counts)


_DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_REPEATS = {"double": 2, "triple": 3}
_FILLERS = ("uh", "um", "er")
_ZERO_LETTERS = frozenset({"o", "oh"})

_WORD_ALT = "zero|one|two|three|four|five|six|seven|eight|nine|oh|o"
# Anything a redactor could act on: a digit, an "@", or a number word.
_TRIGGER = re.compile(rf"[0-9@]|\b(?:{_WORD_ALT})\b", re.IGNORECASE)
_ANY_DIGIT = re.compile(r"[0-9]")
# The phone matcher costs far more than everything else together; it runs only where seven or more
# digits stand close together with nothing but phone punctuation between them (not "12/05/2023").
_PHONE_HINT = re.compile(r"\d(?:[ ().\-]{0,3}\d){6}", re.ASCII)
_NOT_DIGIT = re.compile(r"[^0-9]+")

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL_RE = re.compile(
    rf"{_ATEXT}++(?:\.{_ATEXT}++)*+@(?:{_LABEL}\.)+[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?"
    r"(?![A-Za-z0-9-])"
)

# Digits are ASCII only (re.ASCII), as the Luhn and SSN checks expect.
# A digit run must not continue a longer one: not after a word character or "+", nor after a
# digit and a joiner; and not before more digits. ".5"/",5" around it make it part of a decimal.
_RUN_START = r"(?<![\w+])(?<!\d[-. ,])"
_RUN_END = r"(?![ -]?\d)(?!\w)(?![.,]\d)"
_CARD_RE = re.compile(rf"{_RUN_START}\d(?:[ -]?\d){{12,18}}{_RUN_END}", re.ASCII)
_SSN_RE = re.compile(rf"{_RUN_START}\d{{3}}([ -])\d{{2}}\1\d{{4}}{_RUN_END}", re.ASCII)
_SSN_BARE_RE = re.compile(rf"{_RUN_START}\d{{9}}{_RUN_END}", re.ASCII)
_SSN_CONTEXT = re.compile(r"\b(?:ssn|social(?:\s+security)?)\b", re.IGNORECASE)
_SSN_CONTEXT_CHARS = 40

_DATE = r"(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}-\d{1,2}-\d{2,4})(?:[ T]\d{1,2}:\d{2})?"
_YEAR_RANGE = r"(?:1[89]|20)\d\d-(?:(?:1[89]|20)\d\d|\d\d)"
_FIGURES_RE = re.compile(
    rf"(?P<keep>{_RUN_START}(?:{_DATE}|{_YEAR_RANGE}){_RUN_END})"
    rf"|{_RUN_START}\+?\d++(?:[ -]\d++)*+(?!\w)(?![.,]\d)",
    re.ASCII,
)

_UNIT = rf"(?:(?:double|triple)[ \t-]+)?(?:{_WORD_ALT})"
_JOIN = r"(?:[ \t]*[,-][ \t]*|[ \t]+)"
_SPELLED_RE = re.compile(
    rf"\b{_UNIT}(?:{_JOIN}(?:(?:{'|'.join(_FILLERS)}){_JOIN})?{_UNIT})*\b",
    re.IGNORECASE,
)
_WORD_RE = re.compile(r"[a-z]+")


def redact(
    text: str,
    *,
    kinds: frozenset[str] | None = None,
    min_digits: int = DEFAULT_MIN_DIGIT_RUN,
) -> Redaction:
    """Mask the PII in ``text``; ``kinds`` limits the detectors (default: all).

    ``min_digits`` is the shortest spoken digit run masked; figures need max(8, min_digits).
    """
    if kinds is None:
        kinds = ALL_KINDS
    elif not kinds <= ALL_KINDS:
        unknown = ", ".join(sorted(kinds - ALL_KINDS))
        raise ValueError(f"Unknown PII kinds: {unknown} (known: {', '.join(sorted(ALL_KINDS))})")
    if not kinds or not _TRIGGER.search(text):
        return Redaction(text)

    counts: dict[str, int] = {}
    if EMAIL in kinds and "@" in text:
        text = _EMAIL_RE.sub(_masker(EMAIL, counts), text)
    if _ANY_DIGIT.search(text):
        if CARD in kinds:
            text = _CARD_RE.sub(_mask_card(counts), text)
        if SSN in kinds:
            text = _SSN_RE.sub(_mask_ssn(counts), text)
            text = _SSN_BARE_RE.sub(_mask_ssn(counts, needs_context=True), text)
        if PHONE in kinds and _PHONE_HINT.search(text):
            text = _mask_phones(text, counts)
        if DIGITS in kinds:
            text = _FIGURES_RE.sub(
                _mask_figures(counts, max(FIGURE_MIN_DIGIT_RUN, min_digits)), text
            )
    if kinds & {DIGITS, CARD, SSN, PHONE}:
        text = _SPELLED_RE.sub(_mask_spelled(counts, kinds, min_digits), text)
    return Redaction(text, counts)


def redact_configured(text: str) -> Redaction:
    """``redact`` under PII_REDACTION_ENABLED, PII_REDACTION_KINDS and PII_MIN_DIGIT_RUN."""
    # Imported here so that this module, and the bench script, work without Django configured.
    from django.conf import settings

    if not getattr(settings, "PII_REDACTION_ENABLED", True):
        return Redaction(text)
    configured = getattr(settings, "PII_REDACTION_KINDS", None)
    return redact(
        text,
        kinds=None if configured is None else frozenset(kind.upper() for kind in configured),
        min_digits=getattr(settings, "PII_MIN_DIGIT_RUN", DEFAULT_MIN_DIGIT_RUN),
    )


_Replace = Callable[[re.Match[str]], str]


def _mask(kind: str, counts: dict[str, int]) -> str:
    counts[kind] = counts.get(kind, 0) + 1
    return f"[{kind}]"


def _masker(kind: str, counts: dict[str, int]) -> _Replace:
    return lambda match: _mask(kind, counts)


def _mask_card(counts: dict[str, int]) -> _Replace:
    def replace(match: re.Match[str]) -> str:
        digits = _NOT_DIGIT.sub("", match.group())
        return _mask(CARD, counts) if luhn.is_valid(digits) else match.group()

    return replace


def _has_ssn_context(text: str, start: int) -> bool:
    return _SSN_CONTEXT.search(text, max(0, start - _SSN_CONTEXT_CHARS), start) is not None


def _mask_ssn(counts: dict[str, int], *, needs_context: bool = False) -> _Replace:
    def replace(match: re.Match[str]) -> str:
        if needs_context and not _has_ssn_context(match.string, match.start()):
            return match.group()
        if not us_ssn.is_valid(_NOT_DIGIT.sub("", match.group())):
            return match.group()
        return _mask(SSN, counts)

    return replace


def _mask_phones(text: str, counts: dict[str, int]) -> str:
    pieces: list[str] = []
    end = 0
    for found in PhoneNumberMatcher(text, PHONE_REGION, leniency=Leniency.VALID):
        # A phone number names its area (10+ digits) or its country ("+"). Shorter matches, such
        # as California's seven-digit 310-XXXX service numbers, look like any 7-digit figure.
        if not found.raw_string.lstrip().startswith("+") and (
            len(_NOT_DIGIT.sub("", found.raw_string)) < 10
        ):
            continue
        pieces += (text[end : found.start], _mask(PHONE, counts))
        end = found.end
    if not pieces:
        return text
    pieces.append(text[end:])
    return "".join(pieces)


def _mask_figures(counts: dict[str, int], min_digits: int) -> _Replace:
    def replace(match: re.Match[str]) -> str:
        if match.group("keep") is not None:
            return match.group()
        if len(_NOT_DIGIT.sub("", match.group())) < min_digits:
            return match.group()
        return _mask(DIGITS, counts)

    return replace


def _spelled_digits(run: str) -> tuple[str, bool]:
    """The digits a spoken run stands for, and whether it has any word besides "o"/"oh"."""
    digits: list[str] = []
    repeat = 1
    real = False
    for word in _WORD_RE.findall(run.lower()):
        if word in _REPEATS:
            repeat = _REPEATS[word]
        elif word in _DIGIT_WORDS:
            digits.append(_DIGIT_WORDS[word] * repeat)
            repeat = 1
            real = real or word not in _ZERO_LETTERS
    return "".join(digits), real


def _is_nanp_phone(digits: str) -> bool:
    try:
        number = phonenumbers.parse(digits, PHONE_REGION)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number)


def _mask_spelled(counts: dict[str, int], kinds: frozenset[str], min_digits: int) -> _Replace:
    def replace(match: re.Match[str]) -> str:
        digits, real = _spelled_digits(match.group())
        n = len(digits)
        # "oh oh oh" is an exclamation, not zeros; short runs are prices, times and ZIP codes.
        if not real or n < min(min_digits, 9):
            return match.group()
        if CARD in kinds and 13 <= n <= 19 and luhn.is_valid(digits):
            return _mask(CARD, counts)
        if (
            SSN in kinds
            and n == 9
            and _has_ssn_context(match.string, match.start())
            and us_ssn.is_valid(digits)
        ):
            return _mask(SSN, counts)
        if PHONE in kinds and n in (10, 11) and _is_nanp_phone(digits):
            return _mask(PHONE, counts)
        if DIGITS in kinds and n >= min_digits:
            return _mask(DIGITS, counts)
        return match.group()

    return replace


# Keys whose values are identifiers or times, never free text: "id", "conversationId",
# "call_sid", "criteria_key", "timestamp", "dateCreated", "created_at"... are left as they are.
_IDENTIFIER_WORDS = frozenset({"id", "sid", "key", "at", "time", "date", "timestamp"})
_CAMEL_IDENTIFIER = re.compile(r"[a-z0-9](?:Id|ID|Sid|SID|Key|At|Time|Date|Timestamp)$")


def _is_identifier_key(key: str) -> bool:
    words = key.split("_")
    if words[-1].lower() in _IDENTIFIER_WORDS or words[0].lower() == "date":
        return True
    return bool(_CAMEL_IDENTIFIER.search(key)) or re.match(r"date[A-Z]", key) is not None


def redact_data(value: object) -> tuple[object, dict[str, int]]:
    """``redact_configured`` over every string inside JSON-like ``value`` (dict keys and the
    values of identifier keys aside), with the kinds masked summed over all of them."""
    counts: dict[str, int] = {}

    def walk(item: object, key: str = "") -> object:
        if isinstance(item, str):
            if key and _is_identifier_key(key):
                return item
            redaction = redact_configured(item)
            for kind, count in redaction.counts.items():
                counts[kind] = counts.get(kind, 0) + count
            return redaction.text
        if isinstance(item, dict):
            return {k: walk(v, str(k)) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v, key) for v in item]
        return item

    return walk(value), counts
