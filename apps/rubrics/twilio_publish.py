"""Push a published version's script to Twilio's Script Adherence operator (optional).

Conversation Intelligence v3 keeps the operator's script as the ``script`` parameter of an
operator inside a rule of an Intelligence Configuration (twilio-wire §2.1, §2.7). There is no
call to change one parameter: we read the configuration, set ``script`` on the Script Adherence
operator of the configured rule, and write the configuration back whole (PUT) with every other
rule and operator as Twilio returned them. Both calls go through twilio-python's typed
``intelligence.v3.configurations`` client.

Settings (``ccportal.settings.twilio``): TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (REST
credentials), TWILIO_INTELLIGENCE_CONFIGURATION_ID and TWILIO_INTELLIGENCE_RULE_ID (where the
script goes); TWILIO_API_BASE_URL replaces ``https://intelligence.twilio.com`` (tests).

Caveat (twilio-wire §2.12, unverified): a PUT on a configuration attached to live traffic is
reported to create a new configuration version; conversations keep the version they started
with. Check results after pushing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.rest.intelligence.v3.configuration import ConfigurationList

from apps.common.errors import ApplicationError, PermissionDenied

from .choices import VersionStatus
from .errors import InvalidTransition
from .models import RubricVersion
from .scripttext import export_script
from .selectors import can_manage_rubrics, version_structure

logger = logging.getLogger(__name__)

# Twilio-authored Script Adherence operator (twilio-wire §2.6).
SCRIPT_ADHERENCE_OPERATOR_ID = "intelligence_operator_01kf34tcyefpyb1t4m0nbd8rxg"
TIMEOUT_SECONDS = 15

_REQUIRED_SETTINGS = (
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_INTELLIGENCE_CONFIGURATION_ID",
    "TWILIO_INTELLIGENCE_RULE_ID",
)


class TwilioNotConfigured(ApplicationError):
    status = 503
    code = "twilio_not_configured"


class TwilioPublishFailed(ApplicationError):
    """Twilio refused or could not be reached; ``extra`` has its status and error code."""

    status = 502
    code = "twilio_error"


@dataclass(frozen=True, slots=True)
class PushResult:
    configuration_id: str
    rule_id: str
    configuration_version: int | None
    script: str


def is_configured() -> bool:
    return not _missing_settings()


def _missing_settings() -> list[str]:
    return [name for name in _REQUIRED_SETTINGS if not getattr(settings, name, "")]


def _client() -> Client:
    client = Client(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        http_client=TwilioHttpClient(timeout=TIMEOUT_SECONDS),
    )
    if base_url := getattr(settings, "TWILIO_API_BASE_URL", ""):
        client.intelligence.base_url = base_url
    return client


def version_push_to_twilio(*, version: RubricVersion, actor: Any) -> PushResult:
    """Set the configured rule's Script Adherence ``script`` to ``version``'s export.

    Only the published version is pushed (what Twilio judges is what scores use). Raises
    TwilioNotConfigured, TwilioPublishFailed (Twilio answered 4xx/5xx or could not be reached,
    or the rule has no Script Adherence operator), InvalidTransition, PermissionDenied.
    """
    if actor is not None and not can_manage_rubrics(actor):
        raise PermissionDenied("Only admins may publish rubrics to Twilio.")
    if missing := _missing_settings():
        raise TwilioNotConfigured(
            "Publishing to Twilio is not configured: set " + ", ".join(missing) + ".",
            extra={"missing": missing},
        )
    if version.status != VersionStatus.PUBLISHED:
        raise InvalidTransition("Only the published version of a rubric can go to Twilio.")
    script = export_script(version_structure(version=version))
    configuration_id = settings.TWILIO_INTELLIGENCE_CONFIGURATION_ID
    rule_id = settings.TWILIO_INTELLIGENCE_RULE_ID
    configurations = _client().intelligence.v3.configurations
    try:
        configuration = configurations(configuration_id).fetch()
        rules = [dict(rule) for rule in configuration.rules or []]
        _set_script(rules, rule_id=rule_id, configuration_id=configuration_id, script=script)
        request = ConfigurationList.UpdateConfigurationRequest(
            {
                "displayName": configuration.display_name,
                "description": configuration.description,
                "rules": rules,
            }
        )
        updated = configurations(configuration_id).update(request)
    except TwilioServiceException as exc:
        raise _failed(exc.status, exc.code, exc.detail or exc.title) from exc
    except TwilioRestException as exc:
        raise _failed(exc.status, exc.code, exc.msg) from exc
    except (TwilioException, OSError) as exc:  # requests' errors are OSErrors
        raise TwilioPublishFailed(f"Could not reach Twilio: {exc}") from exc
    logger.info(
        "rubric version %s pushed to Twilio configuration %s rule %s (configuration version %s)",
        version.pk,
        configuration_id,
        rule_id,
        updated.version,
    )
    return PushResult(
        configuration_id=configuration_id,
        rule_id=rule_id,
        configuration_version=updated.version,
        script=script,
    )


def _set_script(
    rules: list[dict[str, Any]], *, rule_id: str, configuration_id: str, script: str
) -> None:
    rule = next((r for r in rules if r.get("id") == rule_id), None)
    if rule is None:
        raise TwilioPublishFailed(
            f"Twilio configuration {configuration_id} has no rule {rule_id}.",
            extra={"rule_id": rule_id},
        )
    operators = [dict(operator) for operator in rule.get("operators") or []]
    rule["operators"] = operators
    operator = next(
        (o for o in operators if o.get("id") == SCRIPT_ADHERENCE_OPERATOR_ID), None
    ) or _only_operator_with_script(operators)
    if operator is None:
        raise TwilioPublishFailed(
            f"Rule {rule_id} has no Script Adherence operator to take the script.",
            extra={"rule_id": rule_id},
        )
    operator["parameters"] = {**(operator.get("parameters") or {}), "script": script}


def _only_operator_with_script(operators: list[dict[str, Any]]) -> dict[str, Any] | None:
    # A rule may pin the operator by another id form (twilio-wire §2.9: TTID or LY...); the one
    # operator that already takes a script is the one to update.
    candidates = [o for o in operators if "script" in (o.get("parameters") or {})]
    return candidates[0] if len(candidates) == 1 else None


def _failed(status: int, code: Any, message: str | None) -> TwilioPublishFailed:
    return TwilioPublishFailed(
        f"Twilio answered {status}: {message or 'no message'} (error {code}).",
        extra={"twilio_status": status, "twilio_code": code},
    )
