"""API tokens: hashed at rest, shown once, expiring, revocable by their owner or an admin;
``Authorization: Bearer <token>`` (or the older ``Token <token>``) on the API."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts import services
from apps.accounts.models import ApiToken
from apps.common.errors import NotFound, ValidationFailed

pytestmark = pytest.mark.django_db

API = "/api/conversations/"


def api(secret: str, keyword: str = "Bearer") -> Client:
    return Client(headers={"Authorization": f"{keyword} {secret}"})


def test_a_good_token_authenticates_as_its_owner_with_either_keyword(world):
    secret = services.api_token_create(user=world.agent_user, name="script").secret
    for keyword in ("Bearer", "Token", "bearer"):
        response = api(secret, keyword).get(API)
        assert response.status_code == 200, response.content
        assert [row["id"] for row in response.json()["results"]] == [world.north_call.pk]


def test_the_stored_token_is_a_hash_never_the_secret(world):
    issued = services.api_token_create(user=world.agent_user, name="script")
    row = ApiToken.objects.values().get(pk=issued.token.pk)
    assert issued.secret.startswith("ccp_") and len(issued.secret) > 40
    assert row["secret_hash"] == services.api_token_hash(issued.secret) != issued.secret
    assert not any(issued.secret in str(value) for value in row.values())
    assert row["prefix"] == issued.secret[:12]


@pytest.mark.parametrize(
    ("spoil", "detail"),
    [
        (lambda t: setattr(t, "expires_at", timezone.now() - timedelta(seconds=1)), "expired"),
        (lambda t: setattr(t, "revoked_at", timezone.now()), "revoked"),
        (lambda t: setattr(t.user, "is_active", False) or t.user.save(), "inactive"),
    ],
    ids=["expired", "revoked", "inactive-owner"],
)
def test_expired_revoked_and_orphaned_tokens_are_refused_with_a_401(world, spoil, detail):
    issued = services.api_token_create(user=world.agent_user, name="script")
    spoil(issued.token)
    issued.token.save()
    response = api(issued.secret).get(API)
    assert response.status_code == 401
    assert detail in response.json()["detail"].lower()
    assert response["WWW-Authenticate"].startswith('Bearer realm="api"')


@pytest.mark.parametrize(
    "header",
    ["Bearer ccp_wrong", "Token 0123456789abcdef", "Bearer", "Bearer a b", "Bearer \xe9t\xe9"],
)
def test_a_wrong_or_malformed_token_is_a_401_never_a_500(world, header):
    services.api_token_create(user=world.agent_user, name="script")
    response = Client(headers={"Authorization": header}).get(API)
    assert response.status_code == 401
    assert response.json()["detail"]


def test_other_schemes_and_no_header_are_left_to_the_session(world):
    assert Client(headers={"Authorization": "Basic Zm9vOmJhcg=="}).get(API).status_code == 403
    assert Client().get(API).status_code == 403


def test_last_used_is_noted_at_most_once_a_minute(world):
    issued = services.api_token_create(user=world.agent_user, name="script")
    client = api(issued.secret)
    client.get(API)
    first = ApiToken.objects.get(pk=issued.token.pk).last_used_at
    assert first is not None
    client.get(API)
    assert ApiToken.objects.get(pk=issued.token.pk).last_used_at == first
    ApiToken.objects.filter(pk=issued.token.pk).update(last_used_at=first - timedelta(minutes=2))
    client.get(API)
    assert ApiToken.objects.get(pk=issued.token.pk).last_used_at > first


def test_tokens_expire_by_default_after_the_configured_days_and_never_later_than_the_cap(
    world, settings
):
    settings.API_TOKEN_DEFAULT_DAYS = 90
    settings.API_TOKEN_MAX_DAYS = 365
    token = services.api_token_create(user=world.agent_user, name="a").token
    assert token.expires_at - token.created_at == timedelta(days=90)
    with pytest.raises(ValidationFailed) as failed:
        services.api_token_create(user=world.agent_user, name="b", days=366)
    assert "days" in failed.value.errors
    with pytest.raises(ValidationFailed) as failed:
        services.api_token_create(user=world.agent_user, name="  ")
    assert "name" in failed.value.errors


def test_owners_revoke_their_own_tokens_and_admins_anyones(world):
    mine = services.api_token_create(user=world.agent_user, name="a").token
    with pytest.raises(NotFound):
        services.api_token_revoke(token_id=mine.pk, by=world.other_agent_user)
    assert services.api_token_revoke(token_id=mine.pk, by=world.agent_user) is True
    assert services.api_token_revoke(token_id=mine.pk, by=world.agent_user) is False
    theirs = services.api_token_create(user=world.other_agent_user, name="b").token
    assert services.api_token_revoke(token_id=theirs.pk, by=world.admin) is True
    theirs.refresh_from_db()
    assert theirs.revoked_by == world.admin


# The page ----------------------------------------------------------------------------------------


def test_the_token_page_shows_a_new_secret_once_and_lists_only_ones_own(world, client_for):
    services.api_token_create(user=world.other_agent_user, name="bobs-script")
    client = client_for(world.agent_user)
    created = client.post(reverse("api-tokens"), {"name": "nightly export", "days": "30"})
    assert created.status_code == 201
    assert "no-store" in created["Cache-Control"]
    token = ApiToken.objects.get(user=world.agent_user)
    secret = created.context["issued"].secret
    assert services.api_token_hash(secret) == token.secret_hash
    assert secret in created.content.decode()
    assert token.expires_at - token.created_at == timedelta(days=30)

    listed = client.get(reverse("api-tokens")).content.decode()
    assert "nightly export" in listed and token.prefix in listed
    assert secret not in listed
    assert "bobs-script" not in listed


def test_the_token_page_revokes_and_refuses_others_tokens(world, client_for):
    mine = services.api_token_create(user=world.agent_user, name="a").token
    theirs = services.api_token_create(user=world.other_agent_user, name="b").token
    client = client_for(world.agent_user)
    assert client.post(reverse("api-token-revoke", args=[theirs.pk])).status_code == 404
    response = client.post(reverse("api-token-revoke", args=[mine.pk]), follow=True)
    assert "Token revoked" in response.content.decode()
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None


def test_the_token_page_is_for_people_with_a_role(world, client_for):
    assert client_for(world.outsider).get(reverse("api-tokens")).status_code == 403
    assert Client().get(reverse("api-tokens")).status_code == 302


def test_admins_revoke_anyones_token_in_the_admin(world, client_for):
    world.admin.is_staff = world.admin.is_superuser = True
    world.admin.save()
    token = services.api_token_create(user=world.agent_user, name="a").token
    client = client_for(world.admin)
    changelist = reverse("admin:accounts_apitoken_changelist")
    assert token.secret_hash not in client.get(changelist).content.decode()
    client.post(changelist, {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_by == world.admin


# The command --------------------------------------------------------------------------------------


def command(*args: str) -> str:
    out = io.StringIO()
    call_command("api_token", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def test_api_token_command_prints_a_new_working_token_each_time_and_rotate_revokes(world):
    first = command("alice")
    second = command("alice")
    assert first != second
    assert api(first).get(API).status_code == 200
    third = command("alice", "--rotate")
    assert api(first).get(API).status_code == 401
    assert api(second).get(API).status_code == 401
    assert api(third).get(API).status_code == 200
    listing = command("alice", "--list")
    assert listing.count("revoked") == 2 and listing.count("active") == 1
    live = ApiToken.objects.get(user=world.agent_user, revoked_at__isnull=True)
    command("alice", "--revoke", str(live.pk))
    assert api(third).get(API).status_code == 401


def test_api_token_command_rejects_bad_days(world):
    with pytest.raises(CommandError, match="days"):
        command("alice", "--days", "0")
