"""Deployment defaults and the Content-Security-Policy (ccportal/settings/security.py).

Settings are read from the environment when the settings module is imported, so what a
deployment gets is asked of a fresh Python process with that environment; what the pages send
is asked of the test client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
LONG_SECRET = "k3-" + "".join(chr(ord("a") + i % 26) + str(i % 10) for i in range(40))
BEHIND_TLS = {
    "DJANGO_DEBUG": "false",
    "PUBLIC_BASE_URL": "https://portal.example.com",
    "SECRET_KEY": LONG_SECRET,
    "ALLOWED_HOSTS": "portal.example.com",
}
# Variables a developer's shell may carry that would change the answers below.
OVERRIDES = [
    "SECURE_COOKIES",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SAMESITE",
    "CSRF_TRUSTED_ORIGINS",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_SSL_REDIRECT",
    "SECURE_REDIRECT_EXEMPT",
    "CSP_REPORT_ONLY",
    "CSP_REPORT_URI",
    "CSP_CONNECT_SRC",
    "TRUST_PROXY_HEADERS",
]
SHOW = """
import json
from ccportal.settings import security as s
print(json.dumps({name: getattr(s, name) for name in dir(s) if name.isupper()}, default=str))
"""


def environment(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OVERRIDES}
    return {**env, "PYTHONPATH": str(ROOT), **values}


def deployed(**values: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SHOW], env=environment(**values), cwd=ROOT, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip


def settings_of(**values: str) -> dict:
    process = deployed(**values)
    assert process.returncode == 0, process.stderr
    return json.loads(process.stdout)


def directives(policy: str) -> dict[str, str]:
    return dict(part.strip().partition(" ")[::2] for part in policy.split(";"))


def test_check_deploy_passes_behind_tls():
    process = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=environment(**BEHIND_TLS), cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert process.returncode == 0, process.stdout + process.stderr
    assert "no issues" in process.stdout


def test_behind_tls_cookies_hsts_and_the_redirect_are_on():
    s = settings_of(**BEHIND_TLS)

    assert s["SESSION_COOKIE_SECURE"] and s["CSRF_COOKIE_SECURE"]
    assert s["SECURE_HSTS_SECONDS"] == 31_536_000
    assert not s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] and not s["SECURE_HSTS_PRELOAD"]
    assert s["SECURE_SSL_REDIRECT"] and s["SECURE_REDIRECT_EXEMPT"] == [r"^healthz$"]
    assert s["CSRF_TRUSTED_ORIGINS"] == ["https://portal.example.com"]
    assert s["X_FRAME_OPTIONS"] == "DENY" and s["SECURE_CONTENT_TYPE_NOSNIFF"]
    assert "wss://portal.example.com" in s["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]["connect-src"]


def test_a_local_run_keeps_http_and_still_has_the_policy():
    s = settings_of(DJANGO_DEBUG="true", PUBLIC_BASE_URL="http://127.0.0.1:8000")

    assert not s["SESSION_COOKIE_SECURE"] and not s["SECURE_SSL_REDIRECT"]
    assert s["SECURE_HSTS_SECONDS"] == 0
    policy = s["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert "ws://127.0.0.1:8000" in policy["connect-src"]


def test_each_default_gives_way_to_the_environment():
    s = settings_of(
        **BEHIND_TLS,
        SECURE_HSTS_SECONDS="3600",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="true",
        SECURE_SSL_REDIRECT="false",
        CSRF_TRUSTED_ORIGINS="https://a.example.com,https://b.example.com",
        CSP_REPORT_ONLY="true",
        CSP_REPORT_URI="/csp-reports/",
    )

    assert s["SECURE_HSTS_SECONDS"] == 3600 and s["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert "security.W005" not in s["SILENCED_SYSTEM_CHECKS"]  # asked for: nothing to silence
    assert not s["SECURE_SSL_REDIRECT"]
    assert s["CSRF_TRUSTED_ORIGINS"] == ["https://a.example.com", "https://b.example.com"]
    # Report-only tries the policy without blocking; framing stays forbidden (browsers ignore
    # frame-ancestors in a report-only policy).
    assert s["CONTENT_SECURITY_POLICY"]["DIRECTIVES"] == {
        "default-src": None,
        "frame-ancestors": ["'none'"],
    }
    report_only = s["CONTENT_SECURITY_POLICY_REPORT_ONLY"]["DIRECTIVES"]
    assert report_only["script-src"] == ["'self'"] and report_only["report-uri"] == [
        "/csp-reports/"
    ]


def test_cross_site_cookies_without_https_stop_the_start_with_a_clear_message():
    process = deployed(DJANGO_DEBUG="true", SESSION_COOKIE_SAMESITE="None")

    assert process.returncode != 0
    assert "SESSION_COOKIE_SAMESITE=None needs secure cookies" in process.stderr


@pytest.mark.django_db
def test_plain_http_is_redirected_except_the_health_check(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600

    assert Client().get("/login/")["Location"] == "https://testserver/login/"
    # Twilio calls the https PUBLIC_BASE_URL; a signed body is not taken over plain HTTP.
    assert Client().post("/webhooks/twilio/voice-status").status_code == 301
    assert Client().get("/healthz").status_code == 200  # container probes speak plain HTTP
    secure = Client().get("/login/", secure=True)
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=3600"


@pytest.mark.django_db
def test_every_page_forbids_inline_script_style_and_framing_but_redoc_may_inject_styles(
    world, client_for
):
    page = directives(client_for(world.qa_analyst).get("/qa/")["Content-Security-Policy"])
    swagger = client_for(world.admin).get("/api/docs/")
    redoc = directives(client_for(world.admin).get("/api/redoc/")["Content-Security-Policy"])

    assert page["script-src"] == "'self'" and page["style-src"] == "'self'"
    assert page["frame-ancestors"] == "'none'" and page["object-src"] == "'none'"
    assert directives(swagger["Content-Security-Policy"])["style-src"] == "'self'"
    assert b"<script>" not in swagger.content and b"<style>" not in swagger.content
    assert redoc["style-src"] == "'self' 'unsafe-inline'"
    assert redoc["script-src"] == "'self'"
