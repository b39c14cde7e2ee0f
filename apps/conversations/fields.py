"""The partition key of communications and operator results: their conversation's month.

``conversations_communication`` and ``intelligence_operatorresult`` are ``PARTITION BY RANGE
(conversation_month)``, one partition a month (docs/scaling.md, "Partitioning"). The month is the
UTC month in which the conversation's row was created (``created_at``, set once at insert),
not the month it started: ``started_at`` moves (a placeholder made by an early line is dated by
that line until CONVERSATION_CREATED arrives), and a row whose key moved would move between
partitions. All of a conversation's lines and results therefore share one partition.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from django.db import models


def month_of(moment: datetime) -> date:
    """The first day of ``moment``'s UTC month."""
    moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


class ConversationMonthField(models.DateField):
    """Filled at insert from the row's conversation unless the writer set it.

    Like ``auto_now_add``, it works for ``save()`` and ``bulk_create()`` (both call
    ``pre_save``). A writer holding the conversation object (the ingest does) costs nothing; one
    that gives only ``conversation_id`` costs a query per row, so hot paths pass the object or
    the month. Never changed after the insert.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = getattr(model_instance, self.attname)
        if value is None and add:
            value = _conversation_month(model_instance)
            setattr(model_instance, self.attname, value)
        return value


def _conversation_month(instance: Any) -> date:
    from .models import Conversation

    descriptor = type(instance).conversation
    if descriptor.is_cached(instance):
        conversation = instance.conversation
        if conversation.created_at is not None:
            return month_of(conversation.created_at)
        conversation_id = conversation.pk
    else:
        conversation_id = instance.conversation_id
    created_at = (
        Conversation.objects.filter(pk=conversation_id).values_list("created_at", flat=True).first()
    )
    if created_at is None:
        raise ValueError(f"no conversation {conversation_id} for {instance!r}")
    return month_of(created_at)
