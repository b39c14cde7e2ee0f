"""Django REST framework and the OpenAPI schema."""

from __future__ import annotations

from .env import get_int, get_str

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        # Our expiring, hashed tokens: "Authorization: Bearer <token>" (or "Token <token>").
        "apps.accounts.authentication.ApiTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "ccportal.api.Pagination",
    "PAGE_SIZE": get_int("API_PAGE_SIZE", 50, minimum=1),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "ccportal.api.exception_handler",
    # After a deploy every browser reconnects at once and asks what it missed: a ceiling per
    # person, well above what one browser asks (one request per gap, reconnect or 20 s).
    "DEFAULT_THROTTLE_RATES": {"live-catchup": get_str("LIVE_CATCHUP_RATE", "240/min")},
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ccportal API",
    "DESCRIPTION": (
        "Conversations, participants and communications from Twilio Conversation Orchestrator, "
        "scoped to the caller's role: agents see their own conversations, supervisors and "
        "coaches their teams, QA analysts and admins everything."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs pages are for the roles that use the API (FEATURES["api_docs"]):
    # they were open to anyone, signed in or not (found by tests/common/test_role_matrix.py).
    "SERVE_PERMISSIONS": ["ccportal.api.CanReadApiDocs"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets that share a field name with another ("status") need their own name.
    "ENUM_NAME_OVERRIDES": {
        "ConversationStatusEnum": "apps.conversations.choices.ConversationStatus",
        "RubricVersionStatusEnum": "apps.rubrics.choices.VersionStatus",
        "QueueItemStatusEnum": "apps.qa.choices.ItemStatus",
        "ReviewStatusEnum": "apps.qa.choices.ReviewStatus",
        "DisputeStatusEnum": "apps.qa.choices.DisputeStatus",
        "ImpactPreviewStatusEnum": "apps.qa.choices.PreviewStatus",
        "CalibrationStatusEnum": "apps.qa.choices.CalibrationStatus",
        "CoachingSessionStatusEnum": "apps.coaching.choices.SessionStatus",
        "GoalStatusEnum": "apps.coaching.choices.GoalStatus",
        "OutcomeEnum": "apps.rubrics.choices.Outcome",
        "ErasureIdentifierKindEnum": "apps.privacy.choices.IdentifierKind",
        "ErasureStatusEnum": "apps.privacy.choices.ErasureStatus",
    },
}
