"""A harder script-adherence test set: demo calls edited so that one step is broken.

The 76 demo agents almost always follow the script, so "always met" is already 96.7% accurate
on the hand labels. Each perturbation below edits the *agent's* turns of a call whose hand
label for the target criterion is "met", in a fixed, documented way, so the expected outcome is
known by construction ("not met", or "met" for the control). Every edit is verified after it is
made (the removed wording must be gone from every agent turn); a call the edit cannot be
verified on is left out of that kind, never labelled by guess. Pure functions, deterministic:
the same calls give the same cases.

Kinds (``KINDS``; criterion keys of ``apps/demo/data/harper-valley-script.rubric.json``):

* ``greeting_removed``: the bank's name (and "harper value"-like slips) deleted from every agent
  turn -> ``greets_with_bank_name`` not met.
* ``greeting_paraphrased``: the bank's name replaced with "your local bank" -> not met.
* ``greeting_reworded`` (control): "hello this is" replaced with "good morning you have
  reached", the bank's name kept -> met.
* ``name_never_given``: "my name is <name>", "this is <name>" and the agent's first name deleted
  -> ``introduces_self`` not met.
* ``help_offer_removed``: "how can/may i help (you)" deleted -> ``offers_help`` not met.
* ``details_never_asked``: every agent turn between the opening and the closing that asks a
  question (what/which/when/where/can you/would you...) deleted, with the caller turns that
  answered it -> ``asks_task_details`` not met (not on branch-hours calls, labelled N/A).
* ``outcome_never_confirmed``: every other agent turn between the opening and the closing
  deleted (statements such as "your balance is ...", "okay"), and a closing turn cut to start
  at "anything else" -> ``confirms_action`` not met.
* ``anything_else_skipped`` / ``thanks_skipped`` / ``good_day_skipped``: the one closing
  phrase deleted -> ``offers_further_help`` / ``thanks_for_calling`` / ``wishes_good_day`` not met
  (a bare "thank you" stays: the labels do not count it as thanking for the call).
* ``closing_skipped``: all three closing phrases deleted -> the three closing criteria not met.
* ``bank_name_too_late`` / ``name_too_late`` / ``help_offer_too_late``: the phrase deleted from
  the opening and said again, alone, 5 seconds after its window (15, 20, 30 s from the agent's
  first remaining turn) closed -> the opening criterion not met.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from .dataset import DemoCall

_BANK = re.compile(r"\bharper\s+val\w*(?:\s+nation\w*)?(?:\s+bank)?\b|\bnational bank\b")
_BANK_LEFT = re.compile(r"harper|national bank")
_HELLO_THIS_IS = re.compile(r"\b(?:hello|hi)\s+this is\b")
_HELP = re.compile(r"\bhow (?:can|may|could|might) i (?:help|assist)(?: you)?(?: today)?\b")
_HELP_LEFT = re.compile(r"\bhow (?:can|may|could|might) i\b")
_QUESTION = re.compile(
    r"\b(?:what|which|when|where|who|how much|how many|can you|could you|would you|do you|"
    r"did you|is it|are you|will you|may i have)\b"
)
_ANYTHING_ELSE = re.compile(
    r"\b(?:(?:and |okay |so )?(?:is|was) there )?anything else(?: that)?(?: i| we)?"
    r"(?: can| could| may)?(?: help(?: you)?(?: with)?| do for you| assist you with)?"
    r"(?: today)?\b"
)
_ANYTHING_ELSE_LEFT = re.compile(r"\belse\b")
_THANKS = re.compile(
    r"\bthank(?:s| you)(?: so much| very much)?(?: for calling| for your call)"
    r"(?: (?:the )?harper\s+val\w*(?: nation\w*)?(?: bank)?)?\b"
)
_THANKS_LEFT = re.compile(r"\bfor (?:calling|your call)\b")
_GOOD_DAY = re.compile(
    r"\b(?:and )?(?:you )?(?:have an?|enjoy the rest of your) (?:\w+ )?"
    r"(?:day|one|afternoon|evening|weekend)\b"
)
_GOOD_DAY_LEFT = re.compile(r"\b(?:day|one|afternoon|evening|weekend)\b")
_SPACES = re.compile(r"\s+")

WINDOW_MS = {"greets_with_bank_name": 15_000, "introduces_self": 20_000, "offers_help": 30_000}
TOO_LATE_MARGIN_MS = 5_000


@dataclass(frozen=True, slots=True)
class Turn:
    index: int
    role: str  # "agent" or "caller"
    start_ms: int
    text: str


@dataclass(frozen=True, slots=True)
class Case:
    """One perturbed call: its turns and the expected outcome of the criteria it targets."""

    sid: str
    kind: str
    turns: tuple[Turn, ...]
    expected: dict[str, str] = field(default_factory=dict)  # criterion key -> met / not_met


def turns_of(call: DemoCall) -> list[Turn]:
    return [Turn(s.index, s.role, s.start_ms, s.text) for s in call.segments]


def _squash(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _edit_agent(turns: Sequence[Turn], edit: Callable[[str], str]) -> list[Turn]:
    """``edit`` applied to every agent turn; a turn left empty is dropped."""
    result = []
    for turn in turns:
        if turn.role == "agent":
            turn = replace(turn, text=_squash(edit(turn.text)))
            if not turn.text:
                continue
        result.append(turn)
    return result


def _agent_has(turns: Sequence[Turn], pattern: re.Pattern[str]) -> bool:
    return any(t.role == "agent" and pattern.search(t.text) for t in turns)


def _first_agent_ms(turns: Sequence[Turn]) -> int | None:
    return next((t.start_ms for t in turns if t.role == "agent" and _speech(t.text)), None)


def _speech(text: str) -> bool:
    return bool(_SPACES.sub("", re.sub(r"\[[^\]]*\]|<[^>]*>", "", text)))


def _insert(turns: list[Turn], turn: Turn) -> list[Turn]:
    position = next((i for i, t in enumerate(turns) if t.start_ms > turn.start_ms), len(turns))
    return [*turns[:position], turn, *turns[position:]]


def _name_pattern(agent_name: str) -> re.Pattern[str]:
    first = re.escape(agent_name.split()[0].lower())
    return re.compile(rf"\b(?:(?:and )?my name(?: is|'s)|this is|i am|i'm)?\s*{first}\b")


def _opening_end(turns: Sequence[Turn]) -> int:
    """Index after the opening: the first caller turn that is speech."""
    return next(
        (i for i, t in enumerate(turns) if t.role == "caller" and _speech(t.text)), len(turns)
    )


def _closing_start(turns: Sequence[Turn]) -> int:
    """Index of the first agent turn offering further help or thanking for the call."""
    return next(
        (
            i
            for i, t in enumerate(turns)
            if t.role == "agent" and (_ANYTHING_ELSE.search(t.text) or _THANKS.search(t.text))
        ),
        len(turns),
    )


def _drop_middle(
    turns: Sequence[Turn], drop: Callable[[Turn], bool], *, answers: bool
) -> list[Turn]:
    """Agent turns between the opening and the closing for which ``drop`` holds are removed; with
    ``answers`` the caller turns after a removed one (until the next kept agent turn) too."""
    start, end = _opening_end(turns), _closing_start(turns)
    result, dropping = [], False
    for i, turn in enumerate(turns):
        inside = start <= i < end
        if inside and turn.role == "agent":
            dropping = drop(turn)
            if dropping:
                continue
        elif inside and answers and dropping:
            continue
        result.append(turn)
    return result


def _too_late(turns: list[Turn], phrase: str, criterion: str) -> list[Turn] | None:
    anchor = _first_agent_ms(turns)
    if anchor is None:
        return None
    at = anchor + WINDOW_MS[criterion] + TOO_LATE_MARGIN_MS
    return _insert(turns, Turn(-1, "agent", at, phrase))


def _greeting_removed(call: DemoCall, turns: list[Turn]) -> list[Turn] | None:
    edited = _edit_agent(turns, lambda t: _BANK.sub(" ", t))
    return None if _agent_has(edited, _BANK_LEFT) else edited


def _greeting_paraphrased(call: DemoCall, turns: list[Turn]) -> list[Turn] | None:
    edited = _edit_agent(turns, lambda t: _BANK.sub(" your local bank ", t))
    return None if _agent_has(edited, _BANK_LEFT) else edited


def _greeting_reworded(call: DemoCall, turns: list[Turn]) -> list[Turn] | None:
    if not _agent_has(turns, _HELLO_THIS_IS):
        return None
    return _edit_agent(turns, lambda t: _HELLO_THIS_IS.sub("good morning you have reached", t))


def _name_never_given(call: DemoCall, turns: list[Turn]) -> list[Turn] | None:
    pattern = _name_pattern(call.agent_name)
    edited = _edit_agent(turns, lambda t: pattern.sub(" ", t))
    first = re.compile(rf"\b{re.escape(call.agent_name.split()[0].lower())}\b|\bmy name\b")
    return None if _agent_has(edited, first) else edited


def _help_offer_removed(call: DemoCall, turns: list[Turn]) -> list[Turn] | None:
    edited = _edit_agent(turns, lambda t: _HELP.sub(" ", t))
    return None if _agent_has(edited, _HELP_LEFT) else edited


def _details_never_asked(call: DemoCall, turns: list[Turn]) -> list[Turn] | None:
    if call.task_type == "get branch hours":
        return None
    edited = _drop_middle(turns, lambda t: bool(_QUESTION.search(t.text)), answers=True)
    return None if len(edited) == len(turns) else edited


def _outcome_never_confirmed(call: DemoCall, turns: list[Turn]) -> list[Turn] | None:
    edited = _drop_middle(turns, lambda t: not _QUESTION.search(t.text), answers=False)

    def cut(text: str) -> str:
        # "the branch hours are ... is there anything else": keep the closing part only.
        match = _ANYTHING_ELSE.search(text)
        return text[match.start() :] if match and match.start() > 0 else text

    start = _closing_start(edited)
    result = [
        replace(t, text=cut(t.text)) if i == start and t.role == "agent" else t
        for i, t in enumerate(edited)
    ]
    return result if result != turns else None


def _anything_else_skipped(call: DemoCall, turns: list[Turn]) -> list[Turn] | None:
    edited = _edit_agent(turns, lambda t: _ANYTHING_ELSE.sub(" ", t))
    return None if _agent_has(edited, _ANYTHING_ELSE_LEFT) else edited


def _thanks_skipped(call: DemoCall, turns: list[Turn]) -> list[Turn] | None:
    edited = _edit_agent(turns, lambda t: _THANKS.sub(" thank you ", t))
    return None if _agent_has(edited, _THANKS_LEFT) else edited


def _good_day_skipped(call: DemoCall, turns: list[Turn]) -> list[Turn] | None:
    edited = _edit_agent(turns, lambda t: _GOOD_DAY.sub(" ", t))
    return None if _agent_has(edited, _GOOD_DAY_LEFT) else edited


def _closing_skipped(call: DemoCall, turns: list[Turn]) -> list[Turn] | None:
    edited: list[Turn] | None = turns
    for step in (_anything_else_skipped, _thanks_skipped, _good_day_skipped):
        edited = step(call, edited) if edited is not None else None
    return edited


def _bank_name_too_late(call: DemoCall, turns: list[Turn]) -> list[Turn] | None:
    edited = _greeting_removed(call, turns)
    if edited is None:
        return None
    return _too_late(edited, "this is harper valley national bank", "greets_with_bank_name")


def _name_too_late(call: DemoCall, turns: list[Turn]) -> list[Turn] | None:
    edited = _name_never_given(call, turns)
    if edited is None:
        return None
    return _too_late(edited, f"my name is {call.agent_name.split()[0].lower()}", "introduces_self")


def _help_offer_too_late(call: DemoCall, turns: list[Turn]) -> list[Turn] | None:
    edited = _help_offer_removed(call, turns)
    if edited is None:
        return None
    return _too_late(edited, "how can i help you today", "offers_help")


CLOSING = ("offers_further_help", "thanks_for_calling", "wishes_good_day")
# kind -> (edit, {criterion: expected label}); every target criterion must be labelled "met" on
# the original call for the case to be made.
KINDS: dict[str, tuple[Callable[[DemoCall, list[Turn]], list[Turn] | None], dict[str, str]]] = {
    "greeting_removed": (_greeting_removed, {"greets_with_bank_name": "not_met"}),
    "greeting_paraphrased": (_greeting_paraphrased, {"greets_with_bank_name": "not_met"}),
    "greeting_reworded": (_greeting_reworded, {"greets_with_bank_name": "met"}),
    "name_never_given": (_name_never_given, {"introduces_self": "not_met"}),
    "help_offer_removed": (_help_offer_removed, {"offers_help": "not_met"}),
    "details_never_asked": (_details_never_asked, {"asks_task_details": "not_met"}),
    "outcome_never_confirmed": (_outcome_never_confirmed, {"confirms_action": "not_met"}),
    "anything_else_skipped": (_anything_else_skipped, {"offers_further_help": "not_met"}),
    "thanks_skipped": (_thanks_skipped, {"thanks_for_calling": "not_met"}),
    "good_day_skipped": (_good_day_skipped, {"wishes_good_day": "not_met"}),
    "closing_skipped": (_closing_skipped, dict.fromkeys(CLOSING, "not_met")),
    "bank_name_too_late": (_bank_name_too_late, {"greets_with_bank_name": "not_met"}),
    "name_too_late": (_name_too_late, {"introduces_self": "not_met"}),
    "help_offer_too_late": (_help_offer_too_late, {"offers_help": "not_met"}),
}


def perturb(call: DemoCall, labels: dict[str, str], kind: str) -> Case | None:
    """The case of ``kind`` made from ``call``, or None when it does not apply or the edit could
    not be verified. ``labels`` are the call's hand labels (criterion key -> met/not_met/na)."""
    edit, expected = KINDS[kind]
    if any(labels.get(key) != "met" for key in expected):
        return None
    turns = edit(call, turns_of(call))
    if turns is None:
        return None
    return Case(call.sid, kind, tuple(turns), dict(expected))


def perturbed_set(calls: Sequence[DemoCall], labels: dict[str, dict[str, str]]) -> list[Case]:
    """Every kind on every call it applies to, in (kind, call) order."""
    return [
        case
        for kind in KINDS
        for call in calls
        if call.sid in labels and (case := perturb(call, labels[call.sid], kind)) is not None
    ]
