"""Signing in: repeated failures pause sign-in for that username from that address (the portal's
page and the admin's), with the reason on the page; passwords follow every validator."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.password_validation import get_default_password_validators
from django.test import Client
from django.urls import reverse

from tests.fixtures import builders

pytestmark = pytest.mark.django_db

LOCKED = 'data-testid="login-locked"'


def fail(client: Client, url: str, username: str, times: int) -> list[int]:
    return [
        client.post(url, {"username": username, "password": "not-the-password"}).status_code
        for _ in range(times)
    ]


def test_the_login_page_pauses_after_repeated_failures_and_says_why(world):
    client = Client()
    limit = settings.AXES_FAILURE_LIMIT
    assert fail(client, reverse("login"), "alice", limit - 1) == [200] * (limit - 1)
    locked = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert locked.status_code == 429
    page = locked.content.decode()
    assert LOCKED in page and "Too many failed sign-in attempts" in page
    assert 'id="id_username"' in page and 'value="alice"' in page  # the form, not a bare 403

    right = {"username": "alice", "password": builders.PASSWORD}
    assert client.post(reverse("login"), right).status_code == 429  # even the right password
    assert SESSION_KEY not in client.session
    # Another address is not paused (by username *and* address), nor another username.
    assert Client(REMOTE_ADDR="10.9.8.7").post(reverse("login"), right).status_code == 302
    assert client.post(reverse("login"), {**right, "username": "bob"}).status_code == 302

    # Once the cool-off has passed, the right password works again.
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - settings.AXES_COOLOFF_TIME
    )
    assert Client().post(reverse("login"), right).status_code == 302


def test_the_admin_login_pauses_too_with_the_reason_on_its_own_page(world):
    world.admin.is_staff = True
    world.admin.save()
    url = reverse("admin:login")
    client = Client()
    statuses = fail(client, url, "ada", settings.AXES_FAILURE_LIMIT)
    assert statuses[-1] == 429
    locked = client.post(url, {"username": "ada", "password": builders.PASSWORD})
    assert locked.status_code == 429
    page = locked.content.decode()
    assert LOCKED in page and "Too many failed sign-in attempts" in page
    assert "Django administration" in page or "id_password" in page


def test_a_success_clears_the_failures_so_typos_do_not_add_up(world):
    client = Client()
    right = {"username": "alice", "password": builders.PASSWORD}
    fail(client, reverse("login"), "alice", settings.AXES_FAILURE_LIMIT - 1)
    assert client.post(reverse("login"), right).status_code == 302
    client.post(reverse("logout"))
    assert fail(client, reverse("login"), "alice", settings.AXES_FAILURE_LIMIT - 1) == [200] * (
        settings.AXES_FAILURE_LIMIT - 1
    )
    assert client.post(reverse("login"), right).status_code == 302


def test_test_clients_force_login_is_not_counted_or_refused(world, client_for):
    assert client_for(world.agent_user).get(reverse("api-tokens")).status_code == 200


# Passwords ---------------------------------------------------------------------------------------


def test_every_django_password_validator_is_on_with_a_minimum_of_twelve():
    names = {type(v).__name__: v for v in get_default_password_validators()}
    assert set(names) == {
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    }
    assert names["MinimumLengthValidator"].min_length == 12


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("Sh0rt-pass", "too short"),
        ("123456789012345", "entirely numeric"),
        ("password1234", "too common"),
        ("quinn-analyst", "too similar"),
    ],
)
def test_the_admin_refuses_weak_passwords_when_adding_or_changing_one(world, password, problem):
    world.admin.is_staff = world.admin.is_superuser = True
    world.admin.save()
    client = Client()
    client.force_login(world.admin)
    world.qa_analyst.first_name = "Quinn"
    world.qa_analyst.last_name = "Analyst"
    world.qa_analyst.save()
    change = reverse("admin:auth_user_password_change", args=[world.qa_analyst.pk])
    response = client.post(change, {"password1": password, "password2": password})
    assert response.status_code == 200  # shown again with the reason, not saved
    assert problem in response.content.decode()
    world.qa_analyst.refresh_from_db()
    assert world.qa_analyst.check_password(builders.PASSWORD)

    added = client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "quinn-analyst",
            "password1": password,
            "password2": password,
            "usable_password": "true",
        },
    )
    assert added.status_code == 200 and problem in added.content.decode()


def test_the_admin_accepts_a_strong_password(world):
    world.admin.is_staff = world.admin.is_superuser = True
    world.admin.save()
    client = Client()
    client.force_login(world.admin)
    change = reverse("admin:auth_user_password_change", args=[world.qa_analyst.pk])
    strong = "lantern-orbit-meadow-42"
    assert client.post(change, {"password1": strong, "password2": strong}).status_code == 302
    world.qa_analyst.refresh_from_db()
    assert world.qa_analyst.check_password(strong)


def test_behind_the_proxy_the_address_is_the_one_nginx_appended(rf, settings):
    from apps.accounts.authentication import client_ip

    request = rf.post(
        "/login/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7"
    )
    settings.TRUST_PROXY_HEADERS = False
    assert client_ip(request) == "10.0.0.2"
    settings.TRUST_PROXY_HEADERS = True
    assert client_ip(request) == "203.0.113.7"  # the client's own claim (6.6.6.6) is ignored
