"""Coaching reads: metrics of an agent over a window (from insights, with intervals), scorecards,
the coach's home, sessions, goals. Each concern has its module; import them as
``from apps.coaching.selectors import metrics``."""
