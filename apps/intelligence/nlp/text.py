"""Tokenizing for the embedded language operators: words, sentences, speech or noise.

Regex only, no NLTK: its tokenizers need data files downloaded at run time, and transcripts are
simple enough (lowercase, often no punctuation) that a regex is as good and far faster.

Transcription tags such as ``[noise]``, ``[cough]`` and ``<unk>`` and cut-off words such as
``wou~`` are not speech: every function here treats them as absent.
"""

from __future__ import annotations

import re

__all__ = [
    "AGENT_ROLES",
    "CUSTOMER_ROLES",
    "FILLERS",
    "STOPWORDS",
    "clean",
    "content_words",
    "is_speech",
    "mask_noise",
    "sentences",
    "word_set",
    "words",
]


def word_set(text: str) -> frozenset[str]:
    """The white-space separated words of ``text``: word lists written as readable paragraphs."""
    return frozenset(text.split())


# Speaker roles of transcript lines. "caller" is what the Harper Valley recordings (and some
# telephony exports) call the customer.
CUSTOMER_ROLES: frozenset[str] = frozenset({"customer", "caller"})
AGENT_ROLES: frozenset[str] = frozenset({"agent"})

# Function words that say nothing about what a conversation is about. Contractions are listed
# as tokenized by ``words`` (apostrophe kept), because transcripts spell them that way.
STOPWORDS: frozenset[str] = word_set(
    """
    a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each either else even ever every few for from further get
    gets got had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers
    herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it'd it'll it's
    its itself just let's me might more most must mustn't my myself neither nor not now of off
    on once only or other ought our ours ourselves out over own same shall shan't she she'd
    she'll she's should shouldn't so some such than that that'd that'll that's the their theirs
    them themselves then there there's these they they'd they'll they're they've this those
    through to too under until up upon us very was wasn't we we'd we'll we're we've were weren't
    what what's when when's where where's whether which while who who's whom whose why why's
    will with won't would wouldn't yet you you'd you'll you're you've your yours yourself
    yourselves
    """
)

# Disfluencies, back-channels and courtesy words: speech, but no content. Kept apart from
# STOPWORDS so that a caller can still tell "okay" (speech) from "[noise]" (not speech).
FILLERS: frozenset[str] = word_set(
    """
    ah alright bye er erm gonna gotta hello hey hi hm hmm huh mhm mm mmhm no nope oh ok okay
    please sure thank thanks uh uhm uhuh um wanna well yeah yep yes
    """
)

# Tags are bracketed ([noise], <unk>); a word cut off mid-way ends in "~". In one alternation
# with the word pattern, so that one scan both skips noise and finds words.
_NOISE = r"\[[^\[\]]*\]|<[^<>]*>|[^\W_]*~"
_NOISE_RE = re.compile(_NOISE)
_WORD_OR_NOISE_RE = re.compile(rf"{_NOISE}|(\d+(?:[.,:]\d+)+|[^\W_]+(?:['\u2019][^\W_]+)*)")
_SPACE_RE = re.compile(r"\s+")

# A sentence ends at . ! or ? (and any closing quote or bracket) followed by white space,
# unless the period closes an abbreviation or an initial ("mr.", "a.m.", "j."; not "I.").
# "No." is no abbreviation here: in a call it is mostly the answer.
_BOUNDARY_RE = re.compile(r"[.!?]+[\"')\]]*\s+")
_ABBREVIATION_RE = re.compile(
    r"\b(?:mr|mrs|ms|dr|prof|sr|jr|st|ave|rd|vs|etc|approx|dept|inc|ltd|jan|feb|apr|jun|jul|aug"
    r"|sep|sept|oct|nov|dec|[^\W\d_](?:\.[^\W\d_])+|(?!i\.)[^\W\d_])\.$",
    re.IGNORECASE,
)


def words(text: str) -> list[str]:
    """Lowercased word tokens of ``text``; tags and cut-off words are dropped.

    Apostrophes inside a word are kept ("that's", "i'm"), so contractions meet STOPWORDS; so are
    the separators inside a number ("3.50", "1,200", "9:30").
    """
    return [word for word in _WORD_OR_NOISE_RE.findall(text.lower()) if word]


def content_words(text: str) -> list[str]:
    """The words of ``text`` that are neither stopwords nor fillers, in order."""
    return [word for word in words(text) if word not in STOPWORDS and word not in FILLERS]


def is_speech(text: str) -> bool:
    """False for empty text, white space and text made only of tags such as ``[noise]``."""
    return any(match.group(1) for match in _WORD_OR_NOISE_RE.finditer(text))


def mask_noise(text: str) -> str:
    """``text`` with every tag and cut-off word replaced by as many spaces.

    Offsets into the result are offsets into ``text``: matchers use it to report spans of the
    original line while never matching inside ``[noise]``.
    """
    return _NOISE_RE.sub(lambda match: " " * len(match.group()), text)


def clean(text: str) -> str:
    """``text`` without tags and cut-off words, white space collapsed."""
    return _SPACE_RE.sub(" ", _NOISE_RE.sub(" ", text)).strip()


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, cleaned (see ``clean``); non-speech sentences are dropped.

    Speech transcripts often carry no punctuation at all: then the whole text is one sentence,
    which is the honest answer (guessing boundaries from words alone would split mid-clause).
    """
    cleaned = clean(text)
    if not cleaned:
        return []
    found: list[str] = []
    start = 0
    for boundary in _BOUNDARY_RE.finditer(cleaned):
        candidate = cleaned[start : boundary.end()].rstrip()
        last_word = candidate.rsplit(" ", 1)[-1].rstrip("\"')]")
        if _ABBREVIATION_RE.search(last_word):
            continue
        found.append(candidate)
        start = boundary.end()
    found.append(cleaned[start:])
    return [sentence for sentence in found if is_speech(sentence)]
