"""What the reference virtual agent says: pure, no I/O (the knowledge lookup is passed in).

Offline answers are retrieval over the knowledge articles (``retrieval``: shared words and
sentence similarity); the answer is the article's best-matching sentences, and the article is
cited in the agent's line. The agent hands off to a person when the caller asks for one (or
presses 0), corrects it a second time, or asks something the knowledge base does not answer;
the handoff carries a reason, an extractive summary of the call so far and the caller's
sentiment, computed with the same offline operators the portal runs on transcripts
(``apps.intelligence.nlp``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from apps.intelligence.nlp.sentiment import cumulative, sentiment_of
from apps.intelligence.nlp.summary import summarize
from apps.intelligence.nlp.text import content_words

from ..choices import HandoffReason
from .retrieval import MIN_SHARED_WORDS, Article, KnowledgeIndex

GREETING = (
    "Hello, you've reached Harper Valley National Bank. I'm the virtual assistant. "
    "How can I help you today?"
)
HANDING_OVER = "I'll connect you with a colleague who can help. One moment please."
NOT_KNOWN = "I'm sorry, I don't have an answer to that."
CORRECTED = "Sorry, I misunderstood. Could you say again what you need?"
ANYTHING_ELSE = "Is there anything else I can help you with?"
GOODBYE = "You're welcome. Thank you for calling Harper Valley National Bank. Goodbye."


_PERSON_RE = re.compile(
    r"\b(?:(?:speak|talk|get|connect|transfer|put)\b.{0,25}\b(?:person|human|someone|somebody"
    r"|agent|representative|operator|people)|real person|live (?:agent|person)"
    r"|representative|operator)\b",
    re.IGNORECASE,
)
_CORRECTION_RE = re.compile(
    r"^\W*(?:no+|nope|wrong|not (?:that|what)|that'?s not|that is not|i said|i meant"
    r"|you misunderstood|that'?s wrong)\b",
    re.IGNORECASE,
)
_THANKS_RE = re.compile(
    r"\b(?:that'?s all|that is all|nothing else|no thanks?|bye|goodbye)\b", re.IGNORECASE
)


@dataclass(frozen=True)
class Handoff:
    """Why and with what the agent hands the caller to a person (its ``handoffData``)."""

    reason_code: str
    reason: str
    summary: str
    sentiment: str

    def handoff_data(self) -> str:
        """The JSON string sent in ``end``; the keys the portal's relay callback reads."""
        return json.dumps(
            {
                "reasonCode": "live-agent-handoff",
                "handoffReason": self.reason_code,
                "reason": self.reason,
                "callSummary": self.summary,
                "sentiment": self.sentiment,
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class Reply:
    """One turn of the agent: what it says, which article it answered from, and whether it
    ends the session with a handoff. ``helpful_from`` is the index of the first token that
    answers the caller (None: nothing in this reply answers them)."""

    text: str
    article_id: int | None = None
    article_title: str = ""
    handoff: Handoff | None = None
    helpful_from: int | None = None
    done: bool = False  # the caller said goodbye: nothing more to ask

    def tokens(self) -> list[str]:
        """The reply as streamed: word by word, each with its trailing space."""
        parts = self.text.split(" ")
        return [part + " " for part in parts[:-1]] + [parts[-1]]


def retrieve(query: str, knowledge: KnowledgeIndex) -> tuple[Article, str] | None:
    """The article answering ``query`` and its best-matching sentences (the offline path's
    ranking, ``KnowledgeIndex.best`` then ``answer``); None when no article answers it."""
    found = knowledge.best(query)
    return None if found is None else (found.article, knowledge.answer(query, found.article))


@dataclass
class Dialog:
    """The state of one call with the agent: the transcript so far and the corrections."""

    lines: list[tuple[str, str]] = field(default_factory=list)  # (role, text)
    corrections: int = 0
    last_article_id: int | None = None

    def greet(self) -> str:
        """The welcome greeting (Twilio speaks it from the TwiML). Not a line of the transcript
        the summary is drawn from: it says nothing about this call."""
        return GREETING

    def respond(self, prompt: str, knowledge: KnowledgeIndex) -> Reply:
        """The agent's reply to the caller's final ``prompt``, answered from ``knowledge``."""
        prompt = prompt.strip()
        ruled = self.screen(prompt)
        if ruled is not None:
            return ruled
        if _CORRECTION_RE.search(prompt):
            rest = _CORRECTION_RE.sub("", prompt).strip(" ,.")
            if len(content_words(rest)) < MIN_SHARED_WORDS:
                return self._say(Reply(CORRECTED))
            prompt = rest
        elif _THANKS_RE.search(prompt) or (
            self.last_article_id is not None and not content_words(prompt)
        ):
            return self._say(Reply(GOODBYE, done=True))
        found = knowledge.best(prompt)
        if found is None:
            return self.hand_off(
                HandoffReason.NOT_IN_KNOWLEDGE,
                f"The knowledge base has no answer to: {prompt}",
                lead=NOT_KNOWN,
            )
        article = found.article
        self.last_article_id = article.id
        body = knowledge.answer(prompt, article)
        text = f"{body} That's from our article {article.title}. {ANYTHING_ELSE}"
        return self._say(
            Reply(text, article_id=article.id, article_title=article.title, helpful_from=0)
        )

    def screen(self, prompt: str) -> Reply | None:
        """Note the caller's turn and apply the rules that come before any answer: a caller
        asking for a person, or correcting the agent a second time, is handed off. None: the
        turn is for the agent to answer (offline, ``respond``; or the model)."""
        prompt = prompt.strip()
        self.lines.append(("customer", prompt))
        if _PERSON_RE.search(prompt):
            return self.hand_off(HandoffReason.ASKED_FOR_PERSON, "The caller asked for a person.")
        if _CORRECTION_RE.search(prompt):
            self.corrections += 1
            if self.corrections >= 2:
                return self.hand_off(
                    HandoffReason.REPEATED_CORRECTION,
                    "The caller corrected the assistant twice.",
                )
        return None

    def said(self, text: str) -> None:
        """A line the agent spoke that no ``Reply`` of this module made (the model's)."""
        if text.strip():
            self.lines.append(("agent", text.strip()))

    def chat_history(self, limit: int) -> list[dict[str, str]]:
        """The call so far as chat messages for the model: its last ``limit`` lines."""
        roles = {"customer": "user", "agent": "assistant"}
        return [
            {"role": roles[role], "content": text}
            for role, text in self.lines[-limit:]
            if role in roles and text
        ]

    def pressed(self, digit: str) -> Reply | None:
        """A DTMF digit: 0 asks for a person; anything else is noted, and the agent waits."""
        self.lines.append(("customer", f"[pressed {digit}]"))
        if digit == "0":
            return self.hand_off(HandoffReason.PRESSED_ZERO, "The caller pressed 0 for a person.")
        return None

    def heard_until(self, utterance: str) -> None:
        """The caller interrupted: the transcript keeps only what they heard of the last line."""
        if self.lines and self.lines[-1][0] == "agent":
            self.lines[-1] = ("agent", utterance.strip())

    def handoff_now(self, reason_code: str, reason: str) -> Handoff:
        return Handoff(
            reason_code=reason_code,
            reason=reason,
            summary=self.summary(),
            sentiment=self.caller_sentiment(),
        )

    def summary(self) -> str:
        """An extractive summary of the call so far (the portal's offline summary operator)."""
        return summarize(self.lines, max_sentences=3, max_chars=400).text

    def caller_sentiment(self) -> str:
        said = [text for role, text in self.lines if role == "customer"]
        return cumulative([sentiment_of(text) for text in said]).label

    def hand_off(self, reason_code: str, reason: str, *, lead: str = "") -> Reply:
        handoff = self.handoff_now(reason_code, reason)
        return self._say(Reply(f"{lead} {HANDING_OVER}".strip(), handoff=handoff))

    def _say(self, reply: Reply) -> Reply:
        self.lines.append(("agent", reply.text))
        return reply
