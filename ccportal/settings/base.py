"""Django core: apps, middleware, templates, auth, static files, logging (HTTPS, cookies and
the Content-Security-Policy: security.py)."""

from __future__ import annotations

from pathlib import Path

from .env import get_bool, get_int, get_list, get_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = get_bool("DJANGO_DEBUG", False)
SECRET_KEY = get_str(
    "SECRET_KEY",
    hint="Set it to a long random string; `make run` generates one under .data/ for local use.",
)
ALLOWED_HOSTS = get_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

# The public URL Twilio uses to reach us (signature validation, links in handoffs).
PUBLIC_BASE_URL = get_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

if get_bool("TRUST_PROXY_HEADERS", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.postgres",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "axes",
    "csp",
    "pgtrigger",
    "pghistory",
    "apps.common",
    "apps.accounts",
    "apps.conversations",
    "apps.rubrics",
    "apps.knowledge",
    "apps.intelligence",
    "apps.relay",
    "apps.agent",
    "apps.wrapup",
    "apps.floor",
    "apps.coaching",
    "apps.webhooks",
    "apps.qa",
    "apps.insights",
    "apps.privacy",
    "apps.demo",
    "apps.live",
    "apps.audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy header (settings/security.py).
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After a write, this browser's next pages read from the primary (apps/common/replica.py).
    "apps.common.replica.ReplicaPinMiddleware",
    # Who, where and how for every row change the request makes (apps/audit).
    "apps.audit.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After sessions, auth and messages: signs out an idle session (SESSION_IDLE_TIMEOUT_SECONDS).
    "apps.accounts.middleware.SessionIdleTimeout",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.common.middleware.ApplicationErrorPages",
    # Last, as django-axes asks: turns a login refused for a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ccportal.urls"
WSGI_APPLICATION = "ccportal.wsgi.application"
ASGI_APPLICATION = "ccportal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.accounts.context_processors.navigation",
            ],
        },
    },
]

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username and address before any password is checked (the
    # lockout's settings: ccportal/settings/auth.py).
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_MIN_LENGTH = get_int("PASSWORD_MIN_LENGTH", 12, minimum=8)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = get_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# In the container image `collectstatic` runs at build time and STATIC_COLLECTED=true serves
# hashed, compressed files; a local run serves straight from the source folders.
STATIC_COLLECTED = get_bool("STATIC_COLLECTED", False)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if STATIC_COLLECTED
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not STATIC_COLLECTED

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The rubric editor posts one field per criterion attribute: a rubric of 20 sections with 10
# criteria each is about 3,000 fields, over Django's default of 1,000.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000

LOG_LEVEL = get_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # django-axes says INFO at every start and login; its warnings are the failures.
        "axes": {"level": "WARNING"},
    },
}
