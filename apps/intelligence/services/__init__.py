"""Writes of the intelligence app, one module per concern; this package names the public ones.

- ``results``: storing operator results (Twilio's and ccportal's own, one shape).
- ``defaults``: the built-in operators and default rules.
- ``triggers``: when rules run, one execution per (rule, conversation, trigger point).
- ``wakeup``: waking the operator workers after commit.
- ``engine``: claiming and running executions, storing what they found.
- ``actions``: what a rule does with results: flags, signed webhooks, live broadcasts.
- ``operators``, ``rules``: operators and rules as admins write them (versions, validation).

Other apps call ``from apps.intelligence import services`` and the names below.
"""

from __future__ import annotations

from .actions import (
    DELIVERY_MAX_ATTEMPTS,
    DeliveryRetry,
    condition_holds,
    delivery_sweep,
    flag_raise,
    flags_resolve,
    on_flag_raised,
    webhook_deliver,
    webhook_payload,
    webhook_signature,
)
from .defaults import defaults_ensure
from .engine import (
    execution_context,
    execution_finish,
    execution_run,
    execution_sweep,
    executions_drain,
)
from .operators import (
    KEY_MAX,
    NAME_MAX,
    NOTE_MAX,
    operator_create,
    operator_set_active,
    operator_version_create,
    rules_touch,
)
from .results import (
    OperatorResultInput,
    operator_result_store,
    output_format_normalise,
    result_normalise,
)
from .rules import (
    RULE_SCALAR_FIELDS,
    RuleInput,
    RuleOperatorInput,
    rule_create,
    rule_delete,
    rule_input,
    rule_set_active,
    rule_update,
)
from .triggers import (
    communication_added,
    communications_added,
    conversation_status_seen,
    conversations_backfill,
    conversations_status_seen,
    execution_create,
    rule_run_on_demand,
)
from .wakeup import OPERATORS_WAKER, executions_wake

__all__ = [
    "DELIVERY_MAX_ATTEMPTS",
    "KEY_MAX",
    "NAME_MAX",
    "NOTE_MAX",
    "OPERATORS_WAKER",
    "RULE_SCALAR_FIELDS",
    "DeliveryRetry",
    "OperatorResultInput",
    "RuleInput",
    "RuleOperatorInput",
    "communication_added",
    "communications_added",
    "condition_holds",
    "conversation_status_seen",
    "conversations_backfill",
    "conversations_status_seen",
    "defaults_ensure",
    "delivery_sweep",
    "execution_context",
    "execution_create",
    "execution_finish",
    "execution_run",
    "execution_sweep",
    "executions_drain",
    "executions_wake",
    "flag_raise",
    "flags_resolve",
    "on_flag_raised",
    "operator_create",
    "operator_result_store",
    "operator_set_active",
    "operator_version_create",
    "output_format_normalise",
    "result_normalise",
    "rule_create",
    "rule_delete",
    "rule_input",
    "rule_run_on_demand",
    "rule_set_active",
    "rule_update",
    "rules_touch",
    "webhook_deliver",
    "webhook_payload",
    "webhook_signature",
]
