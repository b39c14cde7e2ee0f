"""Communications and operator results partitioned by their conversation's month
(conversations 0007, intelligence 0008, apps/common/partitions.py)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.common import partitions
from apps.conversations.choices import ParticipantType
from apps.conversations.fields import month_of
from apps.conversations.models import (
    Communication,
    CommunicationKey,
    Conversation,
    Participant,
)
from apps.conversations.selectors import communication_timeline, floor_rows
from apps.conversations.services import (
    CommunicationInput,
    communication_apply,
    communications_apply,
)
from apps.insights.models import SuggestionScore
from apps.intelligence.models import (
    Flag,
    OperatorResult,
    OperatorResultKey,
    Rule,
    RuleExecution,
)
from apps.intelligence.services.results import OperatorResultInput, operator_result_store

pytestmark = pytest.mark.django_db

LONG_AGO = datetime(2024, 3, 10, 12, tzinfo=UTC)
COMM = partitions.COMMUNICATIONS.table
RESULT = partitions.OPERATOR_RESULTS.table


@pytest.fixture(autouse=True)
def _no_partition_long_ago(request):
    if request.node.get_closest_marker("once"):
        return
    with connection.cursor() as cursor:
        for table in (COMM, RESULT):
            cursor.execute(f'DROP TABLE IF EXISTS "{table}_p2024_03"')


def conversation(name: str, *, created_at: datetime | None = None) -> Conversation:
    made = Conversation.objects.create(twilio_id=f"conv_{name}", name=name)
    if created_at is not None:  # as if the row had been made then
        Conversation.objects.filter(pk=made.pk).update(created_at=created_at)
        made.refresh_from_db()
    return made


def line(conv: Conversation, twilio_id: str, **fields) -> Communication:
    fields = {"text": "hello", **fields}
    return Communication.objects.create(
        twilio_id=twilio_id, conversation=conv, occurred_at=timezone.now(), **fields
    )


def result(conv: Conversation, result_id: str) -> OperatorResult:
    return OperatorResult.objects.create(
        result_id=result_id, conversation=conv, operator_id="LY_x", output_format="TEXT"
    )


def partition_of(table: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def this_month() -> date:
    return month_of(timezone.now())


def test_rows_land_in_their_conversations_month_partition():
    conv = conversation("a")
    comm, res = line(conv, "CO_a_1"), result(conv, "LR_a_1")

    assert comm.conversation_month == res.conversation_month == this_month()
    assert partition_of(COMM, comm.pk) == f"{COMM}_p{this_month():%Y_%m}"
    assert partition_of(RESULT, res.pk) == f"{RESULT}_p{this_month():%Y_%m}"


def test_the_month_is_the_conversations_creation_month_not_its_start():
    conv = conversation("b")
    Conversation.objects.filter(pk=conv.pk).update(started_at=LONG_AGO)  # a start that moved
    comm = Communication.objects.create(  # by id only: the month is read from the row
        twilio_id="CO_b", conversation_id=conv.pk, occurred_at=timezone.now()
    )

    assert comm.conversation_month == this_month()


def test_bulk_create_fills_the_month_from_the_conversation_object():
    conv = conversation("c", created_at=LONG_AGO)
    made = Communication.objects.bulk_create(
        [
            Communication(twilio_id=f"CO_c_{i}", conversation=conv, occurred_at=timezone.now())
            for i in range(3)
        ]
    )

    assert {c.conversation_month for c in made} == {date(2024, 3, 1)}
    # No partition for March 2024: the default partition holds them until maintenance runs.
    assert {partition_of(COMM, c.pk) for c in made} == {f"{COMM}_default"}


def test_a_twilio_id_stays_unique_across_months():
    line(conversation("now"), "CO_same")
    old = conversation("old", created_at=LONG_AGO)

    with pytest.raises(IntegrityError), transaction.atomic():
        line(old, "CO_same")
    result(conversation("now2"), "LR_same")
    with pytest.raises(IntegrityError), transaction.atomic():
        result(old, "LR_same")

    assert Communication.objects.filter(twilio_id="CO_same").count() == 1
    assert OperatorResult.objects.filter(result_id="LR_same").count() == 1


def test_a_twilio_id_stays_unique_within_a_month():
    conv = conversation("d")
    line(conv, "CO_d")

    with pytest.raises(IntegrityError), transaction.atomic():
        line(conv, "CO_d")


def test_deleting_a_row_frees_its_key_and_updates_keep_it():
    conv = conversation("e")
    comm = line(conv, "CO_e")
    comm.text = "changed"
    comm.save()
    assert CommunicationKey.objects.get(twilio_id="CO_e").communication_id == comm.pk

    comm.delete()

    assert not CommunicationKey.objects.filter(twilio_id="CO_e").exists()
    assert line(conv, "CO_e").pk != comm.pk


def test_maintenance_makes_the_months_ahead_and_moves_waiting_rows():
    old = conversation("f", created_at=LONG_AGO)
    comm, res = line(old, "CO_f"), result(old, "LR_f")
    later = datetime(2031, 11, 15, tzinfo=UTC)

    made = partitions.month_partitions_maintain(now=later)

    assert made["made"] == {COMM: 4, RESULT: 4}  # March 2024, Nov 2031 and two ahead
    assert made["dangling"] == {}
    names = [p.name for p in partitions.month_partitions(COMM)]
    assert {f"{COMM}_p2031_11", f"{COMM}_p2031_12", f"{COMM}_p2032_01"} <= set(names)
    assert partition_of(COMM, comm.pk) == f"{COMM}_p2024_03"
    assert partition_of(RESULT, res.pk) == f"{RESULT}_p2024_03"
    # Moved rows keep their keys.
    with pytest.raises(IntegrityError), transaction.atomic():
        line(conversation("g"), "CO_f")
    assert partitions.month_partitions_maintain(now=later)["made"] == {COMM: 0, RESULT: 0}
    with connection.cursor() as cursor:
        for table in (COMM, RESULT):
            for month in ("2031_11", "2031_12", "2032_01"):
                cursor.execute(f'DROP TABLE "{table}_p{month}"')


def test_the_maintenance_task_runs_twice_with_one_effect():
    from apps.conversations.tasks import maintain_month_partitions

    maintain_month_partitions()
    before = partitions.month_partitions(COMM)

    assert maintain_month_partitions() == {"made": {COMM: 0, RESULT: 0}, "dangling": {}}
    assert partitions.month_partitions(COMM) == before
    assert before[-1].start > this_month()


def _references(conv: Conversation) -> tuple[Communication, OperatorResult]:
    comm, res = line(conv, f"CO_{conv.name}"), result(conv, f"LR_{conv.name}")
    rule = Rule.objects.order_by("pk").first()
    RuleExecution.objects.create(
        rule=rule,
        conversation=conv,
        trigger_on="COMMUNICATION",
        trigger_point="COMMUNICATION:1",
        through_communication=comm,
        triggered_at=timezone.now(),
    )
    Flag.objects.create(conversation=conv, reason="r", operator_result=res)
    SuggestionScore.objects.create(result_id=res.pk, conversation=conv, operator="o", reply=comm)
    return comm, res


def test_deleting_a_conversation_still_cascades():
    conv = conversation("h")
    _references(conv)

    conv.delete()

    assert not Communication.objects.exists()
    assert not OperatorResult.objects.exists()
    assert not RuleExecution.objects.exists()
    assert not Flag.objects.exists()
    assert not SuggestionScore.objects.exists()
    assert not CommunicationKey.objects.exists()
    assert not OperatorResultKey.objects.exists()
    assert partitions.references_check() == {}


def test_deleting_a_line_or_a_result_sets_null_or_cascades_as_before():
    conv = conversation("i")
    comm, res = _references(conv)

    comm.delete()
    res.delete()

    assert RuleExecution.objects.get().through_communication_id is None
    assert Flag.objects.get().operator_result_id is None
    assert not SuggestionScore.objects.exists()
    assert partitions.references_check() == {}


def test_the_check_finds_a_reference_left_dangling_by_raw_sql():
    conv = conversation("j")
    comm, _ = _references(conv)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {COMM} WHERE id = %s", [comm.pk])

    assert partitions.references_check() == {
        "intelligence_ruleexecution.through_communication_id": 1,
        "insights_suggestionscore.reply_id": 1,
    }


def test_the_transcript_reads_one_partition():
    conv = conversation("k")
    line(conv, "CO_k")
    lines = communication_timeline(conversation=conv)

    assert [c.twilio_id for c in lines] == ["CO_k"]
    plan = lines.explain()
    assert f"{COMM}_p{this_month():%Y_%m}" in plan
    assert f"{COMM}_default" not in plan


BEFORE = [("conversations", "0006_list_index_covers_team"), ("knowledge", "0003_audit_triggers")]


@pytest.mark.once
@pytest.mark.django_db(transaction=True)
def test_the_migrations_partition_tables_that_hold_rows():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        old = executor.loader.project_state(BEFORE).apps
        OldConversation = old.get_model("conversations", "Conversation")
        OldCommunication = old.get_model("conversations", "Communication")
        OldResult = old.get_model("intelligence", "OperatorResult")
        OldFlag = old.get_model("intelligence", "Flag")
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT relkind FROM pg_class WHERE relname = '{COMM}'")
            assert cursor.fetchone()[0] == "r"  # a plain table again
        convs = {}
        for name, at in (("old", LONG_AGO), ("new", timezone.now())):
            convs[name] = OldConversation.objects.create(twilio_id=f"conv_m_{name}", name=name)
            OldConversation.objects.filter(pk=convs[name].pk).update(created_at=at)
        comms = {
            name: OldCommunication.objects.create(
                twilio_id=f"CO_m_{name}", conversation=conv, text=name, occurred_at=LONG_AGO
            ).pk
            for name, conv in convs.items()
        }
        results = {
            name: OldResult.objects.create(
                result_id=f"LR_m_{name}", conversation=conv, operator_id="x", output_format="TEXT"
            ).pk
            for name, conv in convs.items()
        }
        OldFlag.objects.create(
            conversation=convs["old"], reason="r", operator_result_id=results["old"]
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, relkind FROM pg_class WHERE relname IN (%s, %s)", [COMM, RESULT]
        )
        assert dict(cursor.fetchall()) == {COMM: "p", RESULT: "p"}
    assert partition_of(COMM, comms["old"]) == f"{COMM}_p2024_03"
    assert partition_of(RESULT, results["old"]) == f"{RESULT}_p2024_03"
    assert partition_of(COMM, comms["new"]) == f"{COMM}_p{this_month():%Y_%m}"
    assert dict(Communication.objects.values_list("pk", "text")) == {
        comms["old"]: "old",
        comms["new"]: "new",
    }
    assert set(OperatorResult.objects.values_list("pk", flat=True)) == set(results.values())
    assert Flag.objects.get().operator_result_id == results["old"]
    assert set(CommunicationKey.objects.values_list("twilio_id", flat=True)) == {
        "CO_m_old",
        "CO_m_new",
    }
    conv = Conversation.objects.get(twilio_id="conv_m_new")
    with pytest.raises(IntegrityError), transaction.atomic():
        line(conv, "CO_m_old")  # keys from before still count, across months
    assert line(conv, "CO_m_2").pk > max(comms.values())  # ids continue
    assert result(conv, "LR_m_2").pk > max(results.values())
    with connection.cursor() as cursor:  # leave the months as a new database has them
        for table in (COMM, RESULT):
            for partition in partitions.month_partitions(table):
                if partition.start < this_month():
                    cursor.execute(f'DROP TABLE "{partition.name}"')


# Lookups by a Twilio id read one month -------------------------------------------------------


def partitions_read(table: str, queries: list[dict]) -> list[set[str]]:
    """For each captured query of ``table`` (not of its key table), the partitions its plan
    reads (none when the planner pruned every one)."""
    found = []
    with connection.cursor() as cursor:
        for query in queries:
            sql = query["sql"]
            if f'FROM "{table}"' not in sql:
                continue
            cursor.execute(f"EXPLAIN {sql}")
            # "Bitmap Index Scan on <index>" names an index, its Bitmap Heap Scan the table.
            plan = "\n".join(r[0] for r in cursor.fetchall() if "Bitmap Index Scan" not in r[0])
            found.append(set(re.findall(rf"\bon ({table}_\w+)", plan)))
    return found


def month_partition(table: str, month: date | None = None) -> str:
    return f"{table}_p{month or this_month():%Y_%m}"


def test_an_update_of_a_line_reads_its_month_partition_only_and_applies_as_before():
    conv = conversation("upd")
    communication_apply(
        CommunicationInput("CO_upd", conv.twilio_id, occurred_at=timezone.now(), text="hello")
    )

    with CaptureQueriesContext(connection) as captured:
        communication_apply(
            CommunicationInput("CO_upd", conv.twilio_id, occurred_at=timezone.now(), text="bye")
        )

    assert Communication.objects.get(twilio_id="CO_upd").text == "bye"
    assert Communication.objects.filter(twilio_id="CO_upd").count() == 1
    assert partitions_read(COMM, captured.captured_queries) == [{month_partition(COMM)}]


def test_a_new_line_costs_one_probe_of_the_key_table_and_no_read_of_the_lines():
    conv = conversation("new")

    with CaptureQueriesContext(connection) as captured:
        communication_apply(
            CommunicationInput("CO_new", conv.twilio_id, occurred_at=timezone.now(), text="hi")
        )

    reads = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")]
    assert not [sql for sql in reads if f'FROM "{COMM}"' in sql]
    assert [sql for sql in reads if partitions.COMMUNICATIONS.key_table in sql]
    assert Communication.objects.filter(twilio_id="CO_new", conversation=conv).exists()


def test_a_batch_reads_the_months_of_its_existing_lines_only():
    now_conv, old_conv = conversation("b1"), conversation("b2", created_at=LONG_AGO)
    line(now_conv, "CO_b1")
    line(old_conv, "CO_b2")  # in the default partition: no partition of March 2024
    items = [
        CommunicationInput(twilio_id, conv.twilio_id, occurred_at=timezone.now(), text="edited")
        for twilio_id, conv in (("CO_b1", now_conv), ("CO_b2", old_conv), ("CO_b3", now_conv))
    ]

    with CaptureQueriesContext(connection) as captured:
        applied = communications_apply(items)

    assert [a.changed for a in applied] == [True, True, True]
    assert sorted(
        Communication.objects.filter(text="edited").values_list("twilio_id", flat=True)
    ) == ["CO_b1", "CO_b2", "CO_b3"]
    assert partitions_read(COMM, captured.captured_queries) == [
        {month_partition(COMM), f"{COMM}_default"}
    ]


def test_a_result_delivered_again_is_found_in_its_month_partition_only():
    conv = conversation("res")

    def deliver():
        return operator_result_store(
            OperatorResultInput(
                result_id="LR_again",
                conversation_twilio_id=conv.twilio_id,
                operator_id="LY_x",
                output_format="TEXT",
                result={"text": "a summary"},
            )
        )

    first, created = deliver()
    with CaptureQueriesContext(connection) as captured:
        again, created_again = deliver()

    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert OperatorResult.objects.filter(result_id="LR_again").count() == 1
    assert partitions_read(RESULT, captured.captured_queries) == [{month_partition(RESULT)}]


def test_key_months_names_the_month_of_each_existing_id_only():
    old_conv = conversation("km", created_at=LONG_AGO)
    line(old_conv, "CO_km")

    months = partitions.key_months(partitions.COMMUNICATIONS, ["CO_km", "CO_none", "CO_km"])

    assert months == {"CO_km": date(2024, 3, 1)}
    assert partitions.key_months(partitions.COMMUNICATIONS, []) == {}


def test_a_floor_tile_reads_its_conversations_lines_from_their_months_only():
    conv = conversation("floor")
    caller = Participant.objects.create(
        conversation=conv, twilio_id="MB_floor", type=ParticipantType.CUSTOMER
    )
    line(conv, "CO_floor", author=caller, text="my card was declined")

    with CaptureQueriesContext(connection) as captured:
        rows = floor_rows(ids=[conv.pk])

    assert rows[conv.pk].customer_texts == {"CO_floor": "my card was declined"}
    assert partitions_read(COMM, captured.captured_queries) == [{month_partition(COMM)}] * 2
