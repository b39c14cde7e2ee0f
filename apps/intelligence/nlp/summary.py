"""Extractive conversation summaries: the few sentences that say what a call was about.

Offline and deterministic, so the embedded backend can summarize every call without a model.
The method, in the order ``summarize`` applies it:

1. Split every line into sentences (``text.sentences``) and strip the ritual of a call from
   them: greetings, "my name is ...", "how can I help you", "anything else", "thank you for
   calling", "have a great day", "that'll be all", hesitations and stuttered repeats. What is
   left of "hi my name is linda brown i lost my credit card" is "i lost my credit card".
2. A sentence is substantive when at least two content words are left (not stopwords, fillers,
   number words or words every call uses such as "help" or "today"); the others ("monday",
   "seven one five") are skipped.
3. Score each substantive sentence by the frequency of its content words in the whole call,
   divided by the square root of its length (long sentences are not favoured merely for being
   long). Words said by the customer count double: the reason for the call is in their turns.
4. Always keep the customer's first substantive sentence, which is almost always the request;
   with ``final=True`` also the agent's last substantive sentence, which is mostly the
   resolution. Fill the rest by score, skipping near-repeats (content words overlapping by half
   or more: callers repeat themselves when asked), within ``max_sentences`` and ``max_chars``.
5. Render in the original order, each speaker's run prefixed once ("Customer: ...
   Agent: ..."), sentences capitalized and punctuated, as one paragraph.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from apps.intelligence.nlp.text import (
    AGENT_ROLES,
    CUSTOMER_ROLES,
    FILLERS,
    STOPWORDS,
    sentences,
    word_set,
    words,
)

__all__ = ["Summary", "speaker_of", "summarize"]

CUSTOMER_WEIGHT = 2.0
MIN_CONTENT_WORDS = 2
REPEAT_OVERLAP = 0.5
ELLIPSIS = "…"

# Words that every contact-centre call uses: they mark no topic.
_GENERIC = word_set(
    """
    able actually also anything call called calling day else everything fine good great help
    helped helping just kind know let like lot ma'am much need needed needs nothing one really
    repeat right said say see sir something sorry thing things think today want wanted way
    """
)
# Number words carry amounts and phone numbers, which the text keeps; but a sentence made only
# of them ("seven one five") is a fragment of dictation, not a topic.
_NUMBERS = word_set(
    """
    zero oh one two three four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty
    ninety hundred thousand million first second third
    """
)
_DISCARDED = STOPWORDS | FILLERS | _GENERIC | _NUMBERS

# The ritual of a call, removed from sentences. Lazy ranges keep "this is <company> bank" and
# "my name is <first> <last>" from running into the request that follows.
_NOT_A_NAME = r"(?:and|but|i|i'm|i'd|i've|how|what|calling|from|with|speaking|here|uh|um)\b"
# "this is ..." introduces a company or a caller at the start of a sentence ("hello this is
# ..."), a caller only after a greeting, a company only when the introduction ends there;
# otherwise it may be the complaint itself ("this is the second time the service line ...").
_GREETING = r"(?:(?:yes|hello|hi|hey|good (?:morning|afternoon|evening))\W+)"
_ORGANISATION = r"(?:bank|company|support|service|services|center|centre|desk|line|team)"
_RITUAL_RE = re.compile(
    r"\b(?:"
    r"(?:welcome|thanks?(?: you)?(?: so| very)?(?: much)? for calling)(?: to)?"
    rf"(?: [\w' ]{{0,40}}?\b{_ORGANISATION})?"
    rf"|^{_GREETING}*this is (?:the )?[\w' ]{{0,40}}?\b{_ORGANISATION}"
    r"(?=$| my name| how| and| this)"
    rf"|^{_GREETING}+this is (?:uh |um )?\w+(?: (?!{_NOT_A_NAME})\w+)?"
    r"(?= (?:and )?(?:i|i'd|i'm|calling)\b)"
    rf"|(?:my|the) name(?: is|'s)(?: also)? \w+(?: (?!{_NOT_A_NAME})\w+)?"
    r"|(?:first|last) name(?: is)? \w+"
    r"|(?:how|what) (?:can|may|could) (?:i|we) (?:help|assist|do for) you(?: with)?"
    r"(?: today| this (?:morning|afternoon|evening))?"
    r"|(?:is there )?anything else(?: (?:that )?(?:i|we) (?:can|could|may) (?:help|assist|do for)"
    r" you(?: with)?)?(?: today)?"
    r"|(?:and )?(?:you )?(?:have|enjoy) a (?:great|good|nice|wonderful|lovely|fantastic|blessed)"
    r" (?:day|one|evening|afternoon|morning|night|weekend)"
    r"|thanks?(?: you)?(?: so| very)?(?: much)?(?: for (?:your (?:help|time|patience)|calling"
    r"|holding|waiting))?"
    r"|(?:can|could) you (?:please )?repeat (?:that|it|yourself|the reason for your call)"
    r"(?: for me)?(?: please)?"
    r"|(?:one|a|just a) (?:second|moment|minute)(?: please)?"
    r"|(?:you too|same to you|take care|good ?bye|bye(?: bye)*)"
    r"|(?:that's|it's|that'll be|that (?:is|was|will be|would be)|it (?:is|was|will be)|this is)"
    r"(?: actually)?(?: going to be| gonna be)?(?: actually)? (?:all|it|everything)"
    r"(?: (?:i|we) need(?:ed)?)?(?: for (?:me|now|today|you))?"
    r"|(?:uh|uhm|um|umm|er|erm|hmm|mm)"
    r")\b",
    re.IGNORECASE,
)
_EDGE_WORDS = FILLERS | {"and", "so", "but", "or", "also", "then", "well", "today"}
_SPACE_RE = re.compile(r"\s+")
_REPEATED_WORD_RE = re.compile(r"\b(\w+)(?:\s+\1\b)+", re.IGNORECASE)  # "i i need" -> "i need"
_LONE_I_RE = re.compile(r"\bi\b")
_QUESTION_START = word_set(
    """
    am are can could did do does have how is may shall should was were what when where which who
    whom whose why will would
    """
)


@dataclass(frozen=True, slots=True)
class Summary:
    """A summary and the lines it was drawn from, for linking sentences back to the transcript."""

    text: str
    line_indexes: tuple[int, ...]  # indexes into the input lines that were used, in order


@dataclass(frozen=True, slots=True)
class _Candidate:
    line_index: int
    position: int  # running sentence number over the whole conversation: the original order
    role: str
    text: str  # the sentence without the ritual, still lowercase as transcribed
    content: frozenset[str]


def speaker_of(role: str) -> str:
    """The label a summary puts before a speaker's words: "Customer", "Agent" or the role."""
    if role in CUSTOMER_ROLES:
        return "Customer"
    if role in AGENT_ROLES:
        return "Agent"
    return role.strip().capitalize() or "Speaker"


def summarize(
    lines: Sequence[tuple[str, str]],
    *,
    max_sentences: int = 4,
    max_chars: int = 600,
    final: bool = False,
) -> Summary:
    """An extractive summary of ``lines``, each ``(role, text)`` in conversation order.

    ``final=True`` (the conversation has ended) also keeps the agent's last substantive
    sentence, usually the resolution. Method in the module docstring. Empty or noise-only input,
    or ``max_sentences < 1``, gives ``Summary("", ())``.
    """
    candidates = _candidates(lines)
    if not candidates or max_sentences < 1:
        return Summary("", ())

    frequency: defaultdict[str, float] = defaultdict(float)
    for candidate in candidates:
        weight = CUSTOMER_WEIGHT if candidate.role in CUSTOMER_ROLES else 1.0
        for word in candidate.content:
            frequency[word] += weight

    def score(candidate: _Candidate) -> float:
        total = sum(frequency[word] for word in candidate.content)
        return total / math.sqrt(len(candidate.content))

    required = [
        next((c for c in candidates if c.role in CUSTOMER_ROLES), None),
        next((c for c in reversed(candidates) if c.role in AGENT_ROLES), None) if final else None,
    ]
    ranked = sorted(candidates, key=lambda c: (-score(c), c.position))
    picked: list[_Candidate] = []
    for candidate in [c for c in required if c is not None] + ranked:
        if len(picked) == max_sentences:
            break
        if candidate in picked or any(_repeats(candidate, other) for other in picked):
            continue
        if len(_render([*picked, candidate])) <= max_chars:
            picked.append(candidate)

    if not picked:
        # Even the most important sentence is longer than max_chars: cut it at a word.
        first = next(c for c in required + ranked if c is not None)
        return Summary(_truncate(_render([first]), max_chars), (first.line_index,))
    picked.sort(key=lambda c: c.position)
    return Summary(_render(picked), tuple(sorted({c.line_index for c in picked})))


def _candidates(lines: Sequence[tuple[str, str]]) -> list[_Candidate]:
    found: list[_Candidate] = []
    for line_index, (role, text) in enumerate(lines):
        for sentence in sentences(text):
            stripped = _strip_ritual(sentence)
            content = frozenset(
                w for w in words(stripped) if w not in _DISCARDED and not w[0].isdigit()
            )
            if len(content) >= MIN_CONTENT_WORDS:
                found.append(_Candidate(line_index, len(found), role, stripped, content))
    return found


def _strip_ritual(sentence: str) -> str:
    # Repeats first: "my name is robert robert jones" must lose the whole name.
    stripped = _RITUAL_RE.sub(" ", _REPEATED_WORD_RE.sub(r"\1", sentence))
    tokens = _SPACE_RE.sub(" ", stripped).split(" ")
    # Fillers and conjunctions left dangling at either end ("alright so ...", "... please").
    start, end = 0, len(tokens)
    while start < end and _bare(tokens[start]) in _EDGE_WORDS | {""}:
        start += 1
    while end > start and _bare(tokens[end - 1]) in _EDGE_WORDS | {""}:
        end -= 1
    return " ".join(tokens[start:end]).strip(" ,;:-")


def _bare(token: str) -> str:
    return token.strip(".,!?;:\"'()").lower()


def _repeats(candidate: _Candidate, other: _Candidate) -> bool:
    shared = len(candidate.content & other.content)
    return shared / len(candidate.content | other.content) >= REPEAT_OVERLAP


def _render(picked: Sequence[_Candidate]) -> str:
    parts: list[str] = []
    previous_role: str | None = None
    for candidate in picked:
        sentence = _polish(candidate.text)
        if candidate.role != previous_role:
            parts.append(f"{speaker_of(candidate.role)}: {sentence}")
            previous_role = candidate.role
        else:
            parts.append(sentence)
    return " ".join(parts)


def _polish(sentence: str) -> str:
    """Transcripts are lowercase and unpunctuated; a summary is read as prose."""
    sentence = _LONE_I_RE.sub("I", sentence)
    sentence = sentence[:1].upper() + sentence[1:]
    if sentence[-1:] not in {".", "!", "?"}:
        first = sentence.split(" ", 1)[0].lower()
        sentence += "?" if first in _QUESTION_START else "."
    return sentence


def _truncate(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    if max_chars <= len(ELLIPSIS):
        return text[:max_chars]
    cut = text[: max_chars - len(ELLIPSIS)]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + ELLIPSIS
