from __future__ import annotations

from django.apps import AppConfig


class QaConfig(AppConfig):
    """The QA workflow: a queue fed by flags and sampling policies, reviews, disputes."""

    name = "apps.qa"
    label = "qa"

    def ready(self) -> None:
        from apps.conversations import access, panels
        from apps.intelligence import services as intelligence

        from .panels import qa_panel
        from .selectors import usual_work
        from .services import queue_item_for_flag

        # Every flag a rule raises becomes a queue item, in the same transaction.
        intelligence.on_flag_raised(queue_item_for_flag)
        panels.register("qa", qa_panel, order=5)
        # An analyst's queue, reviews and calibration sessions are their usual work: reading
        # those transcripts needs no reason unless they are marked sensitive.
        access.usual_work_register(usual_work)
