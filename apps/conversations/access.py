"""Reading transcripts with a reason: every read of transcript text is recorded (who, which
conversation, how, when, why), and some reads are asked "why?" first.

Every reader sits above this app (the conversation page and the assist view here, the QA review
page, the API, the live socket), so they all come through here:

- ``page_read(request, conversation)``: a page about to show a transcript. Returns the reason
  form when a reason is needed and none was given in this session for this conversation; else
  records the read and returns None.
- ``api_read(request, sensitivity)``: the API. Raises ``ReasonRequired`` (403, JSON) when a
  reason is needed and the request gives none (header ``X-Access-Reason`` or query parameter
  ``reason``) and the session remembers none; else records the read.
- ``live_join(user, session, conversation_id)``: a socket joining a conversation's group.

When a reason is needed (``ACCESS_REASON_MODE``): never for an agent (they see only their own
conversations); ``always``: for everyone else; ``sensitive`` (the default): when the
conversation is marked sensitive, or lies outside the reader's usual work; ``never``: nobody.
"Usual work" is what scoping gives a role for its work: supervisors' and coaches' teams (all
they can see, so never outside); for those who see everything (QA analysts, admins) only the
conversations the apps above register as theirs (``usual_work_register``: QA registers its
queue items assigned to or claimed by them, their reviews, their calibration sessions and, for
those who decide disputes, open disputes). docs/security.md, "Transcript access log".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from apps.accounts.scoping import Reach, scope_for
from apps.common import clientip
from apps.common.errors import PermissionDenied

from . import services
from .choices import ACCESS_REASON_PRESETS, AccessChannel

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

    from .models import Conversation

REASON_HEADER = "X-Access-Reason"
REASON_PARAMETER = "reason"
SESSION_KEY = "transcript_access_reasons"
# Reasons remembered per session: the most recent conversations only, to keep sessions small.
SESSION_REMEMBERED = 200

# (user, conversation ids) -> the ids among them that are the user's usual work.
UsualWork = Callable[["Person", list[int]], set[int]]
_usual_work: list[UsualWork] = []


class ReasonRequired(PermissionDenied):
    code = "access_reason_required"


def usual_work_register(check: UsualWork) -> None:
    """Let an app say which conversations are a user's work (called from ``AppConfig.ready``)."""
    if check not in _usual_work:
        _usual_work.append(check)


def outside_usual_work(user: Person, conversation_ids: Iterable[int]) -> set[int]:
    """The conversations among these that lie outside ``user``'s usual work (see the module)."""
    ids = sorted(set(conversation_ids))
    if scope_for(user).reach is not Reach.EVERYTHING or not ids or user.pk is None:
        # Agents see their own conversations, supervisors and coaches their teams: all of what
        # they can see is their work. Those who see nothing read nothing.
        return set()
    usual: set[int] = set()
    for check in _usual_work:
        usual |= check(user, [pk for pk in ids if pk not in usual])
        if len(usual) == len(ids):
            break
    return set(ids) - usual


def reasons_needed(user: Person, sensitivity: Mapping[int, bool]) -> set[int]:
    """The conversations among ``sensitivity`` (id -> marked sensitive) that ``user`` may read
    only with a reason, under ``ACCESS_REASON_MODE``."""
    mode = settings.ACCESS_REASON_MODE
    if mode == "never" or not sensitivity or scope_for(user).reach is Reach.OWN:
        return set()  # an agent reading their own calls is never asked
    if mode == "always":
        return set(sensitivity)
    sensitive = {pk for pk, marked in sensitivity.items() if marked}
    return sensitive | outside_usual_work(user, [pk for pk in sensitivity if pk not in sensitive])


# The reasons given in a session, per conversation ----------------------------------------------


def remembered_reasons(session: Any) -> dict[str, str]:
    if session is None:
        return {}
    stored = session.get(SESSION_KEY)
    return stored if isinstance(stored, dict) else {}


def remember_reason(session: Any, conversation_id: int, reason: str) -> None:
    stored = dict(remembered_reasons(session))
    stored.pop(str(conversation_id), None)
    stored[str(conversation_id)] = reason
    session[SESSION_KEY] = dict(list(stored.items())[-SESSION_REMEMBERED:])


def reason_from_form(data: Mapping[str, Any]) -> tuple[str, str]:
    """(reason, problem) from the reason form: a preset, free text, or both."""
    preset = services.access_reason_clean(str(data.get("preset") or ""))
    text = services.access_reason_clean(str(data.get("text") or ""))
    if preset and preset not in ACCESS_REASON_PRESETS:
        return "", "Choose one of the reasons offered, or write your own."
    reason = f"{preset}: {text}" if preset and text else preset or text
    if not reason:
        return "", "Give a reason: choose one, or write your own."
    return reason[: services.REASON_MAX_LENGTH], ""


def client_ip(request: HttpRequest) -> str | None:
    # The one reading of the client's address: forwarded headers count only from our proxies.
    return clientip.client_ip(request) or None


# The readers ------------------------------------------------------------------------------------


def page_read(
    request: HttpRequest, conversation: Conversation, *, channel: AccessChannel = AccessChannel.PAGE
) -> HttpResponse | None:
    """Before a page shows ``conversation``'s transcript: the reason form when a reason is
    needed and this session gave none for this conversation; else the read is recorded."""
    reason = remembered_reasons(request.session).get(str(conversation.pk), "")
    if not reason and reasons_needed(request.user, {conversation.pk: conversation.sensitive}):
        return reason_form(request, conversation)
    services.transcript_access_record(
        user=request.user,
        conversation_ids=[conversation.pk],
        channel=channel,
        reason=reason,
        path=request.get_full_path(),
        ip=client_ip(request),
    )
    return None


def excerpts_read(
    request: Any,
    conversation_ids: Iterable[int],
    *,
    channel: AccessChannel = AccessChannel.PAGE,
) -> None:
    """A page (or an API answer) showing lines of several conversations among other things (a
    coaching session's pinned lines and its line picker): each conversation is a recorded
    read, with the reason this session gave for it if any. It does not ask: the lines were
    chosen for that page by someone whose work it is (a coach for their team), and the whole
    transcript is one click away behind the usual question."""
    remembered = remembered_reasons(getattr(request, "session", None))
    _record(request, {pk: remembered.get(str(pk), "") for pk in set(conversation_ids)}, channel)


def _record(request: Any, reasons: Mapping[int, str], channel: AccessChannel) -> None:
    """The reads of these conversations (id -> the reason given), one INSERT per reason."""
    by_reason: dict[str, list[int]] = {}
    for pk, reason in reasons.items():
        by_reason.setdefault(reason, []).append(pk)
    for reason, ids in by_reason.items():
        services.transcript_access_record(
            user=request.user,
            conversation_ids=ids,
            channel=channel,
            reason=reason,
            path=request.get_full_path(),
            ip=client_ip(request),
        )


def reason_form(
    request: HttpRequest, conversation: Conversation, *, error: str = "", status: int = 200
) -> HttpResponse:
    return render(
        request,
        "conversations/access_reason.html",
        {
            "conversation": conversation,
            "why": (
                "sensitive"
                if conversation.sensitive
                else "always"
                if settings.ACCESS_REASON_MODE == "always"
                else "outside"
            ),
            "presets": ACCESS_REASON_PRESETS,
            "action": reverse("conversation-access-reason", args=[conversation.pk]),
            "next": request.POST.get("next") or request.get_full_path(),
            "error": error,
            "chosen": request.POST.get("preset", ""),
            "text": request.POST.get("text", ""),
            "max_length": services.REASON_MAX_LENGTH,
        },
        status=status,
    )


def api_read(
    request: Any, sensitivity: Mapping[int, bool], *, channel: AccessChannel = AccessChannel.API
) -> None:
    """Before the API returns transcript text of these conversations (id -> marked sensitive):
    ``ReasonRequired`` when one of them needs a reason that neither the request
    (``X-Access-Reason`` or ``?reason=``) nor the session gives; else the reads are recorded
    (one INSERT per distinct reason)."""
    given = (request.headers.get(REASON_HEADER) or request.GET.get(REASON_PARAMETER) or "").strip()[
        : services.REASON_MAX_LENGTH
    ]
    session = getattr(request, "session", None)
    remembered = remembered_reasons(session)
    reasons = {pk: given or remembered.get(str(pk), "") for pk in sensitivity}
    missing = sorted(pk for pk in reasons_needed(request.user, sensitivity) if not reasons[pk])
    if missing:
        raise ReasonRequired(
            "Reading this transcript needs a reason: send it in the X-Access-Reason header "
            "(or the reason query parameter), e.g. X-Access-Reason: Customer complaint.",
            extra={"conversations": missing, "header": REASON_HEADER, "parameter": "reason"},
        )
    _record(request, reasons, channel)


def live_join(
    *, user: Person, session: Any, conversation_id: int, sensitive: bool, ip: str | None = None
) -> bool:
    """A socket of ``user`` joining a conversation's live group: False when a reason is needed
    and the session gave none for this conversation (the page asks it first); else the join is
    recorded and True."""
    reason = remembered_reasons(session).get(str(conversation_id), "")
    if not reason and reasons_needed(user, {conversation_id: sensitive}):
        return False
    services.transcript_access_record(
        user=user,
        conversation_ids=[conversation_id],
        channel=AccessChannel.LIVE,
        reason=reason,
        path=f"/ws/conversations/{conversation_id}/",
        ip=ip,
    )
    return True
