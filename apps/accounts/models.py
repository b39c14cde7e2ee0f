"""Users with a role, teams, and agents with the identities they have in Twilio."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower

from apps.common.models import TimeStampedModel

from .choices import IdentityKind, Role


class Team(TimeStampedModel):
    """A group of agents, led by supervisors and coached by coaches."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A portal user. ``role`` decides what they may use; ``teams`` what they may see.

    A user without a role (or inactive) is an outsider: they can sign in but see nothing.
    """

    role = models.CharField(max_length=20, choices=Role.choices, blank=True, db_index=True)
    teams = models.ManyToManyField(Team, blank=True, related_name="members")

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @property
    def role_label(self) -> str:
        return Role(self.role).label if self.role else "No role"


class Agent(TimeStampedModel):
    """An agent as the contact center knows them: a display name, a team, maybe a portal login.

    Twilio never sends our user ids: it names agents by participant names, addresses or
    TaskRouter worker SIDs. Those live in :class:`AgentIdentity` and are how ingest links a
    participant to an agent.
    """

    display_name = models.CharField(max_length=200)
    user = models.OneToOneField(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="agent_profile"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="agents"
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["display_name"]
        constraints = [
            models.UniqueConstraint(
                Lower("display_name"), "team", name="agent_unique_name_in_team"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name


class AgentIdentity(models.Model):
    """One way an agent is named in Twilio traffic; unique per kind across the install."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=20, choices=IdentityKind.choices)
    value = models.CharField(max_length=255)

    class Meta:
        verbose_name_plural = "agent identities"
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="agent_identity_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"


class Notification(models.Model):
    """Something a person should know about (a review released to them, an item assigned to
    them, a dispute decided), shown under the bell until they read it.

    ``key`` folds repeats together: while a notification with the same key is unread, a new one
    replaces its text and adds to its ``count`` ("3 new items in the pool") instead of piling up.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    key = models.CharField(max_length=120, blank=True)
    count = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["user", "-created_at"],
                condition=models.Q(read_at__isnull=True),
                name="notification_unread_idx",
            ),
            models.Index(fields=["user", "-created_at", "-id"], name="notification_user_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key"],
                condition=models.Q(read_at__isnull=True) & ~models.Q(key=""),
                name="notification_one_unread_per_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} → {self.user_id}"


class ApiToken(models.Model):
    """A credential for the REST API: it acts as its owner and sees what they see.

    Only a SHA-256 hash of the secret is stored: the secret is shown once, when the token is
    made (``services.api_token_create``), and cannot be read back. ``prefix`` (the secret's first
    characters) names the token on pages and in the admin. Every token expires; a revoked one
    stays as a record of who revoked it when.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    secret_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"
        indexes = [models.Index(fields=["user", "-created_at"], name="api_token_user_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "active"
