"""Semantic-check thresholds of the demo rubric, tuned on the tuning half of the demo calls.

``apps/demo/data/heldout_split.json`` holds the split; ``bench/eval_operators.py --tune`` prints
the score distributions these were chosen from (docs/operator-quality.md, section 0.4). The demo
seeds its Script Adherence operator with them (``services.demo_intelligence_load``) and the
evaluation runs with them, so what a demo user sees is what the docs measured.
"""

from __future__ import annotations

DEMO_SEMANTIC_THRESHOLDS: dict[str, float] = {"asks_task_details": 0.18, "confirms_action": 0.26}
