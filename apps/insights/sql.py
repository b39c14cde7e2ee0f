"""The SQL that turns a conversation's stored inputs into its facts, and facts into rollups.

Each metric is defined once, here; every card, chart, table, CSV and API answer is derived from
the columns these statements fill. The statements are set-based: the same text refreshes the
facts of one conversation (``c.id = ANY(%(ids)s)``) and rebuilds a million communications
(``c.id`` in a range), so the incremental path and the full rebuild cannot disagree.

Insights reads the tables of the apps below it directly, in one statement, instead of going
through their selectors row by row: that is what makes a rebuild take seconds. The table names
are gathered in ``TABLES`` and a test checks them against the models.

Definitions (times are a communication's start, ``occurred_at``, and end, start plus
``duration_ms``; only communications with speech count: not blank, not only tags such as
``[noise]``):

* handle_seconds: a closed conversation's end minus its start (the end of its last
  communication when the end was not recorded); open conversations have none.
* first_response_seconds: from when the customer began waiting for a human to the human agent's
  first communication. The wait begins at the end of the AI agent's last communication before
  it (a handoff), else at the end of the customer's first communication, else (the human spoke
  first, as in most voice calls) at the conversation's start. Never negative.
* ai_first_word_seconds: from the end of the customer's first turn (their communications before
  the AI agent's next one) to the AI agent's first communication after the customer's first.
* sentiment_start/end/delta: the customer's sentiment over the first and the last 30 s and the
  change, from the latest sentiment result that carries them (ccportal's operator computes them;
  Twilio's gives a label only, kept as ``sentiment_label``).
* ai_adherence_score: the latest script adherence result's score (0-100).
* qa_score, critical_failed: the current revision of the latest submitted review (calibration
  reviews never count).
* mix: HUMAN, AI, HANDOFF (both an AI and a human agent took part) or NONE, from participants.
* handoff: both took part, or a virtual agent recorded a handoff; its reason is the handoff's
  reason, else its reason code. contained: an AI agent took part, the conversation is closed,
  no human joined and no handoff was recorded (None when no AI agent took part, or still open).
* topic, outcome: what the agent saved in the call's wrap-up, else the latest label of a
  classifier operator named in ``INSIGHTS_TOPIC_OPERATORS`` / ``INSIGHTS_OUTCOME_OPERATORS``
  (``outcome_source`` says which: agent or classifier); task_success: the outcome is one of
  ``INSIGHTS_SUCCESS_OUTCOMES`` (None without an outcome).
* wrapup_edit: how much of the AI's wrap-up summary the agent changed (0 kept .. 1 rewrote:
  ``apps.wrapup.changes``); None without a saved wrap-up.
* suggestions: next-best-response suggestions a human agent answered after, with the closeness
  of that answer (``services.suggestions``).
* va_*: the reference virtual agent's scoreboard (``apps.agent``), from its sessions on the
  conversation's calls (joined by Call SID) and their turns: va_outcome (handed_off wins over
  the other sessions' outcomes, then in_progress, contained, failed, abandoned), the handoff's
  reason code, the caller turns, each turn's time to first token and to the first helpful token
  (arrays in turn order: percentiles do not add across buckets, so they are read from these),
  interruptions and the ones the agent recovered from, and va_task_success (handed off: false;
  contained: an answer cited an article and the caller ended with thanks or goodbye; else
  None; ``agent.selectors.session_task_success`` states the same rule). With a session, the
  agent's own figures decide: an AI agent took part, a session handed off is a handoff (its
  reason code when the relay callback left no reason), an abandoned session (the caller hung
  up before any turn) is neither contained nor not. ai_first_word_seconds stays the
  transcript's measure for every AI agent: the agent's own time to first token leaves out speech
  recognition and synthesis, so it is kept apart (va_first_token_ms), not mixed into that mean.
* A relay handoff recorded before its conversation was known (the ``<Connect action>``
  callback came before the Orchestrator events) is found by the call's SID.
"""

from __future__ import annotations

from apps.agent.choices import HandoffReason

TABLES = {
    "conversation": "conversations_conversation",
    "participant": "conversations_participant",
    "communication": "conversations_communication",
    "result": "intelligence_operatorresult",
    "operator_version": "intelligence_operatorversion",
    "operator": "intelligence_operator",
    "flag": "intelligence_flag",
    "handoff": "relay_handoff",
    "review": "qa_review",
    "answer": "qa_reviewanswer",
    "dispute": "qa_dispute",
    "agent": "accounts_agent",
    "wrapup": "wrapup_wrapup",
    "agent_session": "agent_agentsession",
    "agent_turn": "agent_agentturn",
}

# Advisory lock keys (two int4 form): the whole of insights (shared by incremental refreshes,
# exclusive for a rebuild), one conversation's facts, one rollup bucket.
LOCK_ALL = (73001, 0)
LOCK_FACT = 73002
LOCK_BUCKET = 73003

# Which conversations a statement works on: a placeholder filled with one of these.
TARGET_IDS = "c.id = ANY(%(ids)s)"
TARGET_RANGE = "c.id >= %(lo)s AND c.id < %(hi)s AND c.started_at >= %(since)s"

# Which months' partitions of communications and operator results a statement reads
# (``{months}``, after ``<alias>.conversation_month``), by target. By ids: the months of those
# conversations, which the caller passes as ``%(months)s`` (``facts.conversation_months``); as
# constants in the statement's text they let PostgreSQL prune the other months' partitions
# while planning, where a join to the conversation would only prune them while executing, after
# planning every CTE over every month (issue 17). A rebuild by range reads every month.
MONTHS = {TARGET_IDS: "= ANY(%(months)s::date[])", TARGET_RANGE: "IS NOT NULL"}


def targeted(statement: str, target: str) -> str:
    """``statement`` for ``target`` (``TARGET_IDS`` or ``TARGET_RANGE``)."""
    return statement.replace("{target}", target).replace("{months}", MONTHS[target])


# Not blank and not only tags: one anchored regex (an empty text matches it too).
_SPEECH = r"m.text !~ '^[[:space:]]*((\[[^]]*\]|<[^>]*>)[[:space:]]*)*$'"
_HUMAN = "('HUMAN_AGENT', 'AGENT')"

_TARGET = """
target AS (
    SELECT c.id, c.started_at, c.ended_at, c.status, c.team_id, c.queue, c.channels, c.call_sids
    FROM conversations_conversation c
    WHERE {target} AND c.started_at IS NOT NULL
)"""

# The latest OK result of each kind an insight reads (S sentiment, A adherence, T topic,
# O outcome). ccportal's own results name their operator version; Twilio's only a name.
_RESULTS = """
results AS (
    -- The latest of each kind, sorted on narrow columns; the results' JSON is fetched after.
    SELECT l.cid, l.kind, r.result
    FROM (
        SELECT DISTINCT ON (r.conversation_id, k.kind) r.conversation_id AS cid, k.kind, r.id,
            r.conversation_month AS month
        FROM target t
        JOIN intelligence_operatorresult r ON r.conversation_id = t.id
            AND r.conversation_month {months}
        LEFT JOIN intelligence_operatorversion v ON v.id = r.definition_id
        LEFT JOIN intelligence_operator o ON o.id = v.operator_id
        CROSS JOIN LATERAL (SELECT CASE
            WHEN o.kind = 'SENTIMENT' OR (o.id IS NULL AND r.operator_name ILIKE '%%sentiment%%')
                THEN 'S'
            WHEN o.kind = 'SCRIPT_ADHERENCE'
                OR (o.id IS NULL AND r.operator_name ILIKE '%%adherence%%') THEN 'A'
            WHEN lower(coalesce(o.key, r.operator_name)) = ANY(%(topic_ops)s) THEN 'T'
            WHEN lower(coalesce(o.key, r.operator_name)) = ANY(%(outcome_ops)s) THEN 'O'
        END AS kind) k
        WHERE r.status = 'ok' AND k.kind IS NOT NULL AND r.result IS NOT NULL
        ORDER BY r.conversation_id, k.kind, r.date_created DESC NULLS LAST, r.id DESC
    ) l
    JOIN intelligence_operatorresult r ON r.id = l.id AND r.conversation_month = l.month
        AND r.conversation_month {months}
)"""

_LATEST_REVIEW = """
review AS (
    SELECT DISTINCT ON (rv.conversation_id)
        rv.conversation_id AS cid, rv.id, rv.score, rv.passed_critical, rv.revision_count,
        rv.current_revision_id AS revision_id,
        CASE WHEN 'HUMAN_AGENT' = ANY(rv.segments) THEN 'HUMAN_AGENT' ELSE rv.segments[1] END
            AS segment
    FROM target t
    JOIN qa_review rv ON rv.conversation_id = t.id
    WHERE rv.status = 'SUBMITTED' AND NOT rv.is_calibration
    ORDER BY rv.conversation_id, rv.submitted_at DESC NULLS LAST, rv.id DESC
)"""

_FACT_COLUMNS = (
    "day",
    "started_at",
    "ended_at",
    "closed",
    "team_id",
    "agent_id",
    "agent_ids",
    "queue",
    "channel",
    "mix",
    "communications",
    "handle_seconds",
    "first_response_seconds",
    "ai_first_word_seconds",
    "sentiment_start",
    "sentiment_end",
    "sentiment_delta",
    "sentiment_label",
    "ai_adherence_score",
    "qa_score",
    "qa_review_id",
    "qa_revision",
    "reviews",
    "critical_failed",
    "flags",
    "handoff",
    "handoff_reason",
    "contained",
    "disputes",
    "disputes_open",
    "disputes_accepted",
    "disputes_rejected",
    "topic",
    "outcome",
    "outcome_source",
    "task_success",
    "wrapup_edit",
    "suggestions",
    "suggestion_closeness_sum",
    "suggestions_followed",
    "ai_criteria",
    "human_criteria",
    "va_outcome",
    "va_handoff_code",
    "va_turns",
    "va_first_token_ms",
    "va_first_helpful_ms",
    "va_interruptions",
    "va_recovered",
    "va_task_success",
)
BUCKET = ("day", "team_id", "agent_id", "queue", "channel")


def _literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


# The reference virtual agent's handoff reason codes and their labels, as a SQL expression.
_VA_REASON_LABEL = (
    "CASE va.reason_code "
    + " ".join(
        f"WHEN {_literal(code)} THEN {_literal(label)}" for code, label in HandoffReason.choices
    )
    + " END"
)

_FACT_CTES = (
    "WITH"
    + _TARGET
    + ","
    + _RESULTS
    + ","
    + _LATEST_REVIEW
    + f""",
comms AS (
    SELECT m.conversation_id AS cid, m.occurred_at AS at,
        m.occurred_at + coalesce(m.duration_ms, 0) * interval '1 millisecond' AS ended,
        CASE WHEN p.type IN {_HUMAN} THEN 'H' WHEN p.type = 'AI_AGENT' THEN 'A'
             WHEN p.type = 'CUSTOMER' THEN 'C' ELSE '' END AS role,
        p.agent_id
    FROM target t
    JOIN conversations_communication m ON m.conversation_id = t.id
        AND m.conversation_month {{months}}
    LEFT JOIN conversations_participant p ON p.id = m.author_id
    WHERE {_SPEECH}
),
firsts AS (
    SELECT cid, count(*) AS n, max(ended) AS last_end,
        min(at) FILTER (WHERE role = 'H') AS h_first,
        min(at) FILTER (WHERE role = 'C') AS c_first,
        min(ended) FILTER (WHERE role = 'C') AS c_first_end,
        min(at) FILTER (WHERE role = 'A') AS a_first
    FROM comms GROUP BY cid
),
marks AS (
    SELECT f.cid,
        max(m.ended) FILTER (WHERE m.role = 'A' AND m.at < f.h_first) AS a_before_h,
        min(m.at) FILTER (WHERE m.role = 'A' AND m.at > f.c_first) AS a_reply,
        min(m.agent_id) FILTER (WHERE m.role = 'H' AND m.at = f.h_first) AS speaking_agent
    FROM firsts f JOIN comms m ON m.cid = f.cid
    GROUP BY f.cid
),
ai_wait AS (
    SELECT k.cid, max(m.ended) FILTER (WHERE m.role = 'C' AND m.at < k.a_reply) AS c_turn_end
    FROM marks k JOIN comms m ON m.cid = k.cid
    WHERE k.a_reply IS NOT NULL
    GROUP BY k.cid
),
people AS (
    SELECT p.conversation_id AS cid,
        bool_or(p.type IN {_HUMAN}) AS has_h,
        bool_or(p.type = 'AI_AGENT') AS has_a,
        array_agg(DISTINCT p.agent_id) FILTER (WHERE p.agent_id IS NOT NULL
            AND p.type IN {_HUMAN}) AS agent_ids,
        (array_agg(p.agent_id ORDER BY p.joined_at NULLS LAST, p.id)
            FILTER (WHERE p.agent_id IS NOT NULL AND p.type IN {_HUMAN}))[1] AS joined_agent
    FROM target t JOIN conversations_participant p ON p.conversation_id = t.id
    GROUP BY p.conversation_id
),
latest AS (
    SELECT cid,
        (array_agg(result) FILTER (WHERE kind = 'S'))[1] AS s,
        (array_agg(result) FILTER (WHERE kind = 'A'))[1] AS a,
        (array_agg(result) FILTER (WHERE kind = 'T'))[1] AS t,
        (array_agg(result) FILTER (WHERE kind = 'O'))[1] AS o
    FROM results GROUP BY cid
),
reviewed AS (
    SELECT rv.conversation_id AS cid, count(DISTINCT rv.id) AS reviews,
        count(d.id) AS disputes,
        count(d.id) FILTER (WHERE d.status = 'OPEN') AS disputes_open,
        count(d.id) FILTER (WHERE d.status IN ('ACCEPTED', 'PARTIAL')) AS disputes_accepted,
        count(d.id) FILTER (WHERE d.status = 'REJECTED') AS disputes_rejected
    FROM target t
    JOIN qa_review rv ON rv.conversation_id = t.id
    LEFT JOIN qa_dispute d ON d.review_id = rv.id
    WHERE rv.status = 'SUBMITTED' AND NOT rv.is_calibration
    GROUP BY rv.conversation_id
),
flagged AS (
    SELECT fl.conversation_id AS cid, count(*) AS n
    FROM target t JOIN intelligence_flag fl ON fl.conversation_id = t.id
    GROUP BY fl.conversation_id
),
handoff AS (
    SELECT DISTINCT ON (h.cid) h.cid,
        left(coalesce(nullif(btrim(h.reason), ''), nullif(btrim(h.reason_code), ''), ''), 200)
            AS reason
    FROM (
        SELECT t.id AS cid, h.reason, h.reason_code, h.created_at, h.id
        FROM target t JOIN relay_handoff h ON h.conversation_id = t.id
        UNION ALL
        -- Recorded before the conversation was known: the call's SID finds it.
        SELECT t.id, h.reason, h.reason_code, h.created_at, h.id
        FROM target t CROSS JOIN LATERAL unnest(t.call_sids) AS call(sid)
        JOIN relay_handoff h ON h.call_sid = call.sid AND h.conversation_id IS NULL
    ) h
    ORDER BY h.cid, h.created_at DESC, h.id DESC
),
va_session AS (
    SELECT t.id AS cid, s.id AS sid, s.outcome, s.handoff_reason_code, s.started_at
    FROM target t CROSS JOIN LATERAL unnest(t.call_sids) AS call(sid)
    JOIN agent_agentsession s ON s.call_sid = call.sid
),
va AS (
    SELECT v.cid,
        CASE WHEN bool_or(v.outcome = 'handed_off') THEN 'handed_off'
             WHEN bool_or(v.outcome = 'in_progress') THEN 'in_progress'
             WHEN bool_or(v.outcome = 'contained') THEN 'contained'
             WHEN bool_or(v.outcome = 'failed') THEN 'failed' ELSE 'abandoned' END AS outcome,
        (array_agg(v.handoff_reason_code ORDER BY v.started_at DESC, v.sid DESC)
            FILTER (WHERE v.handoff_reason_code <> ''))[1] AS reason_code,
        count(tu.id) AS turns,
        coalesce(array_agg(tu.first_token_ms ORDER BY v.started_at, v.sid, tu.index)
            FILTER (WHERE tu.first_token_ms IS NOT NULL), '{{}}') AS first_token,
        coalesce(array_agg(tu.first_helpful_ms ORDER BY v.started_at, v.sid, tu.index)
            FILTER (WHERE tu.first_helpful_ms IS NOT NULL), '{{}}') AS first_helpful,
        count(tu.id) FILTER (WHERE tu.interrupted) AS interruptions,
        count(tu.id) FILTER (WHERE tu.interrupted AND tu.recovered) AS recovered,
        coalesce(bool_or(tu.article_title <> ''), false) AS cited,
        coalesce(bool_or(tu.closing), false) AS closing
    FROM va_session v LEFT JOIN agent_agentturn tu ON tu.session_id = v.sid
    GROUP BY v.cid
),
suggested AS (
    SELECT s.conversation_id AS cid, count(s.closeness) AS n,
        coalesce(sum(s.closeness), 0) AS total,
        count(*) FILTER (WHERE s.closeness >= %(followed)s) AS followed
    FROM target t JOIN insights_suggestionscore s ON s.conversation_id = t.id
    GROUP BY s.conversation_id
),
ai_criteria AS (
    -- Twilio's shape, which ccportal's operator also writes; Pending is not judged yet.
    SELECT x.cid, jsonb_object_agg(x.criterion_key, x.outcome) AS criteria
    FROM (
        SELECT DISTINCT ON (r.cid, left(crit->>'criteria_key', 120))
            r.cid, left(crit->>'criteria_key', 120) AS criterion_key,
            CASE crit->>'criteria_met'
                WHEN 'Succeeded' THEN 'MET' WHEN 'Failed' THEN 'NOT_MET'
                WHEN 'NotApplicable' THEN 'NA'
            END AS outcome
        FROM results r
        CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(r.result->'categories')
            = 'array' THEN r.result->'categories' ELSE '[]'::jsonb END) cat
        CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(cat->'criteria')
            = 'array' THEN cat->'criteria' ELSE '[]'::jsonb END) crit
        WHERE r.kind = 'A' AND coalesce(crit->>'criteria_key', '') <> ''
        ORDER BY r.cid, left(crit->>'criteria_key', 120)
    ) x
    WHERE x.outcome IS NOT NULL
    GROUP BY x.cid
),
human_criteria AS (
    SELECT rv.cid, jsonb_object_agg(a.criterion_key, a.outcome) AS criteria
    FROM review rv
    JOIN qa_reviewanswer a ON a.revision_id = rv.revision_id AND a.segment = rv.segment
    WHERE a.outcome IN ('MET', 'NOT_MET', 'NA')
    GROUP BY rv.cid
),
shaped AS (
    SELECT t.*, f.n, f.last_end, f.h_first, f.c_first, f.c_first_end,
        k.a_before_h, k.a_reply, w.c_turn_end,
        coalesce(k.speaking_agent, pe.joined_agent) AS agent_id,
        coalesce(pe.agent_ids, '{{}}') AS agent_ids,
        coalesce(pe.has_h, false) OR f.h_first IS NOT NULL AS has_h,
        coalesce(pe.has_a, false) OR f.a_first IS NOT NULL OR va.cid IS NOT NULL AS has_a,
        t.status = 'CLOSED' AS is_closed,
        h.cid IS NOT NULL OR va.outcome IS NOT DISTINCT FROM 'handed_off' AS has_handoff,
        -- The reference agent's reason by its code's label, not by its text: the text quotes
        -- the caller ("no answer to: ..."), one label per call. Other agents' text as sent.
        coalesce({_VA_REASON_LABEL}, nullif(h.reason, ''), va.reason_code) AS handoff_reason,
        va.cid IS NOT NULL AS has_va, va.outcome AS va_outcome,
        va.reason_code AS va_reason_code, va.turns AS va_turns, va.first_token AS va_first_token,
        va.first_helpful AS va_first_helpful, va.interruptions AS va_interruptions,
        va.recovered AS va_recovered, va.cited AS va_cited, va.closing AS va_closing,
        l.s, l.a,
        CASE WHEN jsonb_typeof(l.t->'label') = 'string' THEN left(btrim(l.t->>'label'), 200)
            ELSE '' END AS topic,
        CASE WHEN jsonb_typeof(l.o->'label') = 'string' THEN left(btrim(l.o->>'label'), 200)
            ELSE '' END AS outcome
    FROM target t
    LEFT JOIN firsts f ON f.cid = t.id
    LEFT JOIN marks k ON k.cid = t.id
    LEFT JOIN ai_wait w ON w.cid = t.id
    LEFT JOIN people pe ON pe.cid = t.id
    LEFT JOIN handoff h ON h.cid = t.id
    LEFT JOIN latest l ON l.cid = t.id
    LEFT JOIN va ON va.cid = t.id
),
computed AS (
    SELECT x.id AS conversation_id,
        (x.started_at AT TIME ZONE %(tz)s)::date AS day,
        x.started_at, x.ended_at, x.is_closed AS closed,
        coalesce(x.team_id, ag.team_id) AS team_id,
        x.agent_id, x.agent_ids,
        left(x.queue, 120) AS queue,
        left(upper(coalesce(x.channels[1], '')), 20) AS channel,
        CASE WHEN x.has_a AND x.has_h THEN 'HANDOFF' WHEN x.has_a THEN 'AI'
             WHEN x.has_h THEN 'HUMAN' ELSE 'NONE' END AS mix,
        coalesce(x.n, 0) AS communications,
        CASE WHEN x.is_closed THEN greatest(0, extract(epoch FROM
            coalesce(x.ended_at, x.last_end, x.started_at) - x.started_at))::float8 END
            AS handle_seconds,
        CASE WHEN x.h_first IS NOT NULL THEN greatest(0, extract(epoch FROM x.h_first - coalesce(
            x.a_before_h,
            CASE WHEN x.c_first < x.h_first THEN x.c_first_end END,
            x.started_at)))::float8 END AS first_response_seconds,
        -- Not the virtual agent's own time to first token (va_first_token_ms): that leaves
        -- out speech recognition and synthesis, and one mean must not mix two measures.
        CASE WHEN x.a_reply IS NOT NULL AND x.c_turn_end IS NOT NULL
            THEN greatest(0, extract(epoch FROM x.a_reply - x.c_turn_end))::float8 END
            AS ai_first_word_seconds,
        insights_number(x.s->'delta'->'first') AS sentiment_start,
        insights_number(x.s->'delta'->'last') AS sentiment_end,
        insights_number(x.s->'delta'->'delta') AS sentiment_delta,
        left(lower(coalesce(CASE WHEN jsonb_typeof(x.s->'customer') = 'object'
            THEN x.s->'customer'->>'label' END, x.s->>'label', '')), 20) AS sentiment_label,
        insights_number(x.a->'score') AS ai_adherence_score,
        rv.score::float8 AS qa_score, rv.id AS qa_review_id,
        rv.revision_count AS qa_revision,
        coalesce(rd.reviews, 0) AS reviews,
        CASE WHEN rv.passed_critical IS NOT NULL THEN NOT rv.passed_critical END
            AS critical_failed,
        coalesce(fl.n, 0) AS flags,
        (x.has_a AND x.has_h) OR x.has_handoff AS handoff,
        CASE WHEN (x.has_a AND x.has_h) OR x.has_handoff
            THEN coalesce(x.handoff_reason, '') ELSE '' END AS handoff_reason,
        CASE WHEN NOT x.has_a THEN NULL WHEN x.has_h OR x.has_handoff THEN false
             WHEN x.va_outcome = 'abandoned' THEN NULL
             WHEN x.va_outcome = 'failed' THEN false
             WHEN x.is_closed THEN true END AS contained,
        coalesce(rd.disputes, 0) AS disputes,
        coalesce(rd.disputes_open, 0) AS disputes_open,
        coalesce(rd.disputes_accepted, 0) AS disputes_accepted,
        coalesce(rd.disputes_rejected, 0) AS disputes_rejected,
        coalesce(nullif(wu.topic, ''), x.topic) AS topic,
        coalesce(nullif(wu.outcome, ''), x.outcome) AS outcome,
        CASE WHEN wu.outcome <> '' THEN 'agent' WHEN x.outcome <> '' THEN 'classifier'
             ELSE '' END AS outcome_source,
        CASE WHEN coalesce(nullif(wu.outcome, ''), x.outcome) <> ''
            THEN lower(coalesce(nullif(wu.outcome, ''), x.outcome)) = ANY(%(success)s) END
            AS task_success,
        wu.summary_change::float8 AS wrapup_edit,
        coalesce(sg.n, 0) AS suggestions,
        coalesce(sg.total, 0)::float8 AS suggestion_closeness_sum,
        coalesce(sg.followed, 0) AS suggestions_followed,
        coalesce(ac.criteria, '{{}}'::jsonb) AS ai_criteria,
        coalesce(hc.criteria, '{{}}'::jsonb) AS human_criteria,
        coalesce(x.va_outcome, '') AS va_outcome,
        left(coalesce(x.va_reason_code, ''), 40) AS va_handoff_code,
        coalesce(x.va_turns, 0) AS va_turns,
        coalesce(x.va_first_token, '{{}}') AS va_first_token_ms,
        coalesce(x.va_first_helpful, '{{}}') AS va_first_helpful_ms,
        coalesce(x.va_interruptions, 0) AS va_interruptions,
        coalesce(x.va_recovered, 0) AS va_recovered,
        CASE WHEN x.va_outcome = 'handed_off' THEN false
             WHEN x.va_outcome = 'contained' THEN x.va_cited AND x.va_closing END
            AS va_task_success
    FROM shaped x
    LEFT JOIN accounts_agent ag ON ag.id = x.agent_id
    LEFT JOIN review rv ON rv.cid = x.id
    LEFT JOIN reviewed rd ON rd.cid = x.id
    LEFT JOIN flagged fl ON fl.cid = x.id
    LEFT JOIN suggested sg ON sg.cid = x.id
    LEFT JOIN ai_criteria ac ON ac.cid = x.id
    LEFT JOIN human_criteria hc ON hc.cid = x.id
    LEFT JOIN wrapup_wrapup wu ON wu.conversation_id = x.id
)"""
)

_COLS = ", ".join(_FACT_COLUMNS)
_SET = ", ".join(f"{c} = EXCLUDED.{c}" for c in _FACT_COLUMNS)
_OLD = ", ".join(f"insights_conversationfact.{c}" for c in _FACT_COLUMNS)
_NEW = ", ".join(f"EXCLUDED.{c}" for c in _FACT_COLUMNS)
_UPSERT = f"""
INSERT INTO insights_conversationfact (conversation_id, {_COLS}, computed_at)
SELECT conversation_id, {_COLS}, now() FROM computed
ON CONFLICT (conversation_id) DO UPDATE SET {_SET}, computed_at = EXCLUDED.computed_at
WHERE ({_OLD}) IS DISTINCT FROM ({_NEW})
"""
_KEYS = ", ".join(BUCKET)

# The facts of the target conversations; the buckets a changed fact left and entered go to the
# dirty-bucket log in the same statement (the old row is read before the upsert changes it).
FACTS_LOGGED = (
    _FACT_CTES
    + f""",
old AS (
    SELECT f.conversation_id, {", ".join("f." + k for k in BUCKET)}
    FROM insights_conversationfact f JOIN target t ON t.id = f.conversation_id
),
up AS ({_UPSERT} RETURNING conversation_id, {_KEYS})
INSERT INTO insights_dirtybucket ({_KEYS})
SELECT {_KEYS} FROM up
UNION
SELECT {", ".join("o." + k for k in BUCKET)} FROM old o JOIN up USING (conversation_id)
"""
)
# The same for a rebuild, which rebuilds every rollup afterwards and logs nothing.
FACTS_UNLOGGED = _FACT_CTES + _UPSERT

# The next-best-response suggestions of the target conversations that a human agent answered,
# with that answer: the first agent communication after the customer's turn it replied to.
SUGGESTION_PAIRS = (
    "WITH"
    + _TARGET
    + f""",
nbr AS (
    SELECT r.id, r.conversation_id AS cid, r.result->>'text' AS text,
        left(coalesce(o.key || ' v' || v.number, nullif(r.operator_name, ''), r.operator_id),
            200) AS operator,
        coalesce(nullif(r.result->>'in_reply_to', ''), nullif(r.communication_last, ''))
            AS asked
    FROM target t
    JOIN intelligence_operatorresult r ON r.conversation_id = t.id
        AND r.conversation_month {{months}}
    LEFT JOIN intelligence_operatorversion v ON v.id = r.definition_id
    LEFT JOIN intelligence_operator o ON o.id = v.operator_id
    WHERE r.status = 'ok' AND jsonb_typeof(r.result->'text') = 'string'
        AND (o.kind = 'NEXT_BEST_RESPONSE'
             OR (o.id IS NULL AND r.operator_name ILIKE '%%next best%%'))
)
SELECT n.id, n.cid, n.operator, n.text, reply.id, reply.text, s.reply_id
FROM nbr n
JOIN conversations_communication q ON q.twilio_id = n.asked AND q.conversation_id = n.cid
    AND q.conversation_month {{months}}
CROSS JOIN LATERAL (
    SELECT m.id, m.text, p.type
    FROM conversations_communication m
    JOIN conversations_participant p ON p.id = m.author_id
    WHERE m.conversation_id = n.cid AND m.conversation_month {{months}}
        AND m.occurred_at > q.occurred_at
        AND p.type IN ('HUMAN_AGENT', 'AGENT', 'AI_AGENT') AND {_SPEECH}
    ORDER BY m.occurred_at, m.id
    LIMIT 1
) reply
LEFT JOIN insights_suggestionscore s ON s.result_id = n.id
WHERE reply.type IN {_HUMAN}
"""
)

# Rollups. ``{where}`` picks the facts: the dirty buckets (joined as ``k``) or a day range.
_BUCKET_OF_F = ", ".join(f"f.{k}" for k in BUCKET)
ROLLUP_INSERT = f"""
INSERT INTO insights_rollup ({_KEYS}, conversations, closed, handle_n, handle_sum, handle_sq,
    first_response_n, first_response_sum, first_response_sq, ai_first_word_n, ai_first_word_sum,
    sentiment_n, sentiment_delta_sum, sentiment_delta_sq, sentiment_improved,
    sentiment_worsened, adherence_n, adherence_sum, adherence_sq, qa_n, qa_sum, qa_sq,
    critical_failed, reviews, flags, flagged, ai_handled, ai_closed, contained, handoffs,
    outcome_n, task_success, ai_outcome_n, ai_task_success, disputes, disputes_open,
    disputes_accepted, disputes_rejected,
    suggestions, suggestion_closeness_sum, suggestions_followed, wrapup_n, wrapup_edit_sum,
    va_conversations, va_abandoned, va_closed, va_contained, va_turns, va_interruptions,
    va_recovered, va_task_n, va_task_success)
SELECT {_BUCKET_OF_F}, count(*), count(*) FILTER (WHERE f.closed),
    count(f.handle_seconds), coalesce(sum(f.handle_seconds), 0),
    coalesce(sum(f.handle_seconds ^ 2), 0),
    count(f.first_response_seconds), coalesce(sum(f.first_response_seconds), 0),
    coalesce(sum(f.first_response_seconds ^ 2), 0),
    count(f.ai_first_word_seconds), coalesce(sum(f.ai_first_word_seconds), 0),
    count(f.sentiment_delta), coalesce(sum(f.sentiment_delta), 0),
    coalesce(sum(f.sentiment_delta ^ 2), 0),
    count(*) FILTER (WHERE f.sentiment_delta > %(sentiment_band)s),
    count(*) FILTER (WHERE f.sentiment_delta < -%(sentiment_band)s),
    count(f.ai_adherence_score), coalesce(sum(f.ai_adherence_score), 0),
    coalesce(sum(f.ai_adherence_score ^ 2), 0),
    count(f.qa_score), coalesce(sum(f.qa_score), 0), coalesce(sum(f.qa_score ^ 2), 0),
    count(*) FILTER (WHERE f.critical_failed), coalesce(sum(f.reviews), 0),
    coalesce(sum(f.flags), 0), count(*) FILTER (WHERE f.flags > 0),
    count(*) FILTER (WHERE f.mix IN ('AI', 'HANDOFF')), count(f.contained),
    count(*) FILTER (WHERE f.contained), count(*) FILTER (WHERE f.handoff),
    count(f.task_success), count(*) FILTER (WHERE f.task_success),
    count(f.task_success) FILTER (WHERE f.mix IN ('AI', 'HANDOFF')),
    count(*) FILTER (WHERE f.task_success AND f.mix IN ('AI', 'HANDOFF')),
    coalesce(sum(f.disputes), 0), coalesce(sum(f.disputes_open), 0),
    coalesce(sum(f.disputes_accepted), 0), coalesce(sum(f.disputes_rejected), 0),
    coalesce(sum(f.suggestions), 0), coalesce(sum(f.suggestion_closeness_sum), 0),
    coalesce(sum(f.suggestions_followed), 0),
    count(f.wrapup_edit), coalesce(sum(f.wrapup_edit), 0),
    count(*) FILTER (WHERE f.va_outcome <> ''),
    count(*) FILTER (WHERE f.va_outcome = 'abandoned'),
    count(f.contained) FILTER (WHERE f.va_outcome <> ''),
    count(*) FILTER (WHERE f.contained AND f.va_outcome <> ''),
    coalesce(sum(f.va_turns), 0), coalesce(sum(f.va_interruptions), 0),
    coalesce(sum(f.va_recovered), 0), count(f.va_task_success),
    count(*) FILTER (WHERE f.va_task_success)
FROM insights_conversationfact f {{join}}
WHERE {{where}}
GROUP BY {_BUCKET_OF_F}
"""

CRITERION_ROLLUP_INSERT = f"""
INSERT INTO insights_criterionrollup ({_KEYS}, criterion_key, ai_met, ai_not_met, ai_na,
    human_met, human_not_met, human_na)
SELECT {_BUCKET_OF_F}, c.criterion_key,
    count(*) FILTER (WHERE c.source = 'A' AND c.outcome = 'MET'),
    count(*) FILTER (WHERE c.source = 'A' AND c.outcome = 'NOT_MET'),
    count(*) FILTER (WHERE c.source = 'A' AND c.outcome = 'NA'),
    count(*) FILTER (WHERE c.source = 'H' AND c.outcome = 'MET'),
    count(*) FILTER (WHERE c.source = 'H' AND c.outcome = 'NOT_MET'),
    count(*) FILTER (WHERE c.source = 'H' AND c.outcome = 'NA')
FROM insights_conversationfact f {{join}}
CROSS JOIN LATERAL (
    SELECT 'A' AS source, e.key AS criterion_key, e.value AS outcome
    FROM jsonb_each_text(f.ai_criteria) e
    UNION ALL
    SELECT 'H', e.key, e.value FROM jsonb_each_text(f.human_criteria) e
) c
WHERE {{where}}
GROUP BY {_BUCKET_OF_F}, c.criterion_key
"""

LABEL_ROLLUP_INSERT = f"""
INSERT INTO insights_labelrollup ({_KEYS}, kind, label, conversations, value_n, value_sum,
    value_hits)
SELECT {_BUCKET_OF_F}, 'TOPIC', f.topic, count(*), 0, 0, 0
FROM insights_conversationfact f {{join}} WHERE {{where}} AND f.topic <> ''
GROUP BY {_BUCKET_OF_F}, f.topic
UNION ALL
SELECT {_BUCKET_OF_F}, 'OUTCOME', f.outcome, count(*), 0, 0, 0
FROM insights_conversationfact f {{join}} WHERE {{where}} AND f.outcome <> ''
GROUP BY {_BUCKET_OF_F}, f.outcome
UNION ALL
SELECT {_BUCKET_OF_F}, 'HANDOFF', f.handoff_reason, count(*), 0, 0, 0
FROM insights_conversationfact f {{join}} WHERE {{where}} AND f.handoff
GROUP BY {_BUCKET_OF_F}, f.handoff_reason
UNION ALL
SELECT {_BUCKET_OF_F}, 'SUGGESTION', s.operator, count(DISTINCT f.conversation_id),
    count(s.closeness), coalesce(sum(s.closeness), 0),
    count(*) FILTER (WHERE s.closeness >= %(followed)s)
FROM insights_conversationfact f {{join}}
JOIN insights_suggestionscore s ON s.conversation_id = f.conversation_id
WHERE {{where}}
GROUP BY {_BUCKET_OF_F}, s.operator
"""

ROLLUP_TABLES = ("insights_rollup", "insights_criterionrollup", "insights_labelrollup")

# The dirty buckets of one refresh, as a relation ``k`` (arrays of equal length).
KEYS_JOIN = """JOIN (
    SELECT DISTINCT * FROM unnest(%(days)s::date[], %(teams)s::bigint[], %(agents)s::bigint[],
        %(queues)s::text[], %(channels)s::text[]) AS u(day, team_id, agent_id, queue, channel)
) k ON f.day = k.day AND f.team_id IS NOT DISTINCT FROM k.team_id
    AND f.agent_id IS NOT DISTINCT FROM k.agent_id AND f.queue = k.queue
    AND f.channel = k.channel"""

# The same buckets as a restriction of the facts alone (implied by ``KEYS_JOIN``, so the rows
# are the same): the join's ``IS NOT DISTINCT FROM`` cannot use an index, and without this the
# facts of the buckets' whole days were read (every agent's), once per statement. With it the
# facts are read through the agent's index (``fact_agent_day_idx``), an agentless bucket's
# through ``agent_id IS NULL`` (issue 17). ``%(agentless)s``: some bucket has no agent.
KEYS_WHERE = (
    "f.day = ANY(%(days)s::date[]) AND (f.agent_id = ANY(%(agents)s::bigint[])"
    " OR (f.agent_id IS NULL AND %(agentless)s))"
)

ROLLUP_DELETE_KEYS = """
DELETE FROM {table} r
USING (
    SELECT DISTINCT * FROM unnest(%(days)s::date[], %(teams)s::bigint[], %(agents)s::bigint[],
        %(queues)s::text[], %(channels)s::text[]) AS u(day, team_id, agent_id, queue, channel)
) k
WHERE r.day = k.day AND r.team_id IS NOT DISTINCT FROM k.team_id
    AND r.agent_id IS NOT DISTINCT FROM k.agent_id AND r.queue = k.queue
    AND r.channel = k.channel
    -- Implied by the join; indexable, as in KEYS_WHERE.
    AND r.day = ANY(%(days)s::date[])
    AND (r.agent_id = ANY(%(agents)s::bigint[]) OR (r.agent_id IS NULL AND %(agentless)s))
"""
