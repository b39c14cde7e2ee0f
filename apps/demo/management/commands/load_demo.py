from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.demo.coaching import demo_coaching_load
from apps.demo.coaching_goals import demo_goals_load
from apps.demo.dataset import read_calls
from apps.demo.insights import demo_insights_load, demo_insights_operators
from apps.demo.qa import demo_calibration_load, demo_qa_load
from apps.demo.services import (
    DEMO_PASSWORD,
    DemoLoadResult,
    demo_intelligence_load,
    demo_load,
)
from apps.demo.virtual import demo_virtual_load
from apps.demo.wrapups import demo_wrapups_load


class Command(BaseCommand):
    help = (
        "Load the Harper Valley demo calls, two teams, their agents and one login per role "
        "(password: demo). Safe to run again: only what is missing is added."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--no-shadow",
            action="store_true",
            help="skip the suggestions at every turn of the recorded calls (saves ~15 s)",
        )
        parser.add_argument(
            "--allow-production-demo-users",
            action="store_true",
            help="load even where the settings look like production (DJANGO_DEBUG=false and an "
            "https PUBLIC_BASE_URL): the demo's logins, admin included, have the password 'demo'",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        refuse_in_production(allow=options["allow_production_demo_users"])
        started = time.monotonic()
        result = demo_load()
        virtual = demo_virtual_load(calls=read_calls(), shift=timedelta(days=result.shift_days))
        self.stdout.write(_summary(result, seconds=time.monotonic() - started))
        self.stdout.write(
            f"{virtual} calls through the virtual assistant (contained or handed over)."
        )
        started = time.monotonic()
        demo_insights_operators()
        extra = demo_intelligence_load(shadow=not options["no_shadow"])
        self.stdout.write(
            f"\nIntelligence in {time.monotonic() - started:.1f} s: bank script rubric "
            f"{'published' if extra.rubric_created else 'already there'}, "
            f"{extra.articles_created} knowledge articles added, "
            f"{extra.executions} rule executions run on the demo calls."
        )
        started = time.monotonic()
        qa = demo_qa_load()
        self.stdout.write(
            f"QA in {time.monotonic() - started:.1f} s: "
            + (
                f"2 flagging rules ({qa.flagged} calls flagged), a sampling policy "
                f"({qa.sampled} calls sampled), {qa.reviews} reviews in every state."
                if qa.created
                else "already there."
            )
        )
        started = time.monotonic()
        calibrated = demo_calibration_load()
        self.stdout.write(
            f"Calibration in {time.monotonic() - started:.1f} s: "
            + (
                f"a closed and an open session ({calibrated.answers} answers)."
                if calibrated.created
                else "already there (or no labelled calls to use)."
            )
        )
        wrapped = demo_wrapups_load()
        self.stdout.write(f"Wrap-ups: {wrapped} saved by the agents with a login.")
        started = time.monotonic()
        insights = demo_insights_load()
        self.stdout.write(
            f"Insights in {time.monotonic() - started:.1f} s: facts of {insights.conversations} "
            f"conversations, {insights.rollup_rows} rollup rows."
        )
        started = time.monotonic()
        coached = demo_coaching_load()
        self.stdout.write(
            f"Coaching in {time.monotonic() - started:.1f} s: "
            + (
                f"{coached.sessions} sessions of Linda with the coach ({coached.pins} lines "
                f"pinned, {coached.action_items} action items) and 2 templates."
                if coached.created
                else "already there (or no reviews of Linda to coach on)."
            )
        )
        started = time.monotonic()
        goals = demo_goals_load()
        self.stdout.write(
            f"Goals in {time.monotonic() - started:.1f} s: {goals.created} set by the coach "
            "(baselines frozen from the demo's figures)."
            if goals.created
            else "Goals: already there (or no coach to set them)."
        )


def refuse_in_production(*, allow: bool) -> None:
    """The demo's logins (an admin among them) all have the password "demo": not where the
    settings look like production (DJANGO_DEBUG=false and an https PUBLIC_BASE_URL), unless
    asked for by name."""
    if allow or settings.DEBUG or not settings.PUBLIC_BASE_URL.startswith("https://"):
        return
    raise CommandError(
        "Refusing to load the demo: DJANGO_DEBUG is false and PUBLIC_BASE_URL is https, so this "
        "looks like production, and the demo adds logins (an admin among them) whose password "
        f"is {DEMO_PASSWORD!r}. Load it on a local or staging install, or pass "
        "--allow-production-demo-users if this install really is a demo."
    )


def _summary(result: DemoLoadResult, *, seconds: float) -> str:
    lines = [
        f"Harper Valley demo loaded in {seconds:.1f} s; calls moved {result.shift_days} days "
        f"forward, the latest on {result.latest_call_on.isoformat()}.",
        "",
        f"{'':<18}{'created':>8}{'present':>9}",
    ]
    lines += [f"{c.label:<18}{c.created:>8}{c.present:>9}" for c in result.counts]
    lines += ["", "Logins:", f"{'username':<12}{'password':<10}{'role':<13}sees"]
    lines += [
        f"{login.username:<12}{DEMO_PASSWORD:<10}{login.role.label:<13}{login.sees}"
        for login in result.logins
    ]
    lines.append("A password is only set when the login is created; a changed one is kept.")
    return "\n".join(lines)
