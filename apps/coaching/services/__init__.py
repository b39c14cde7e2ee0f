"""Coaching writes: sessions (plan, hold, close, acknowledge, links, pins, notes), action items,
goals (baseline frozen at creation, progress recomputed), templates, notifications. Each concern
has its module; import them as ``from apps.coaching.services import sessions``."""
