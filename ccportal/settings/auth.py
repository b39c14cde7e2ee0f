"""Login and sessions: lockout after failed logins (django-axes), the idle timeout of a session,
and the lifetime of API tokens. (AUTHENTICATION_BACKENDS and the password rules: base.py.)"""

from __future__ import annotations

from datetime import timedelta

from .env import get_bool, get_int

# Lockout ----------------------------------------------------------------------------------------
# After LOGIN_FAILURE_LIMIT failed logins for one username from one address (the sign-in page and
# the admin's alike), that pair is refused for LOGIN_COOLOFF_MINUTES; a success resets the count.
# By username *and* address: a stranger cannot lock a colleague out by failing from elsewhere.
AXES_ENABLED = get_bool("LOGIN_LOCKOUT_ENABLED", True)
AXES_FAILURE_LIMIT = get_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=get_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Attempts while locked out are refused without being counted, so the wait the page announces
# ("try again in 15 minutes") holds; otherwise every retry would restart it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The page with the sign-in form again and the reason, instead of a bare 429 text.
AXES_LOCKOUT_CALLABLE = "apps.accounts.views.login_locked_out"
AXES_HTTP_RESPONSE_CODE = 429
# The address of the client: apps.common.clientip's one reading (forwarded headers only from
# TRUSTED_PROXIES, settings/guards.py).
AXES_CLIENT_IP_CALLABLE = "apps.accounts.authentication.client_ip"
# Successful logins are not logged in a table of their own (django.contrib.admin's history and
# the server's access log have them); failures are, as AccessAttempt rows.
AXES_DISABLE_ACCESS_LOG = True

# Sessions ---------------------------------------------------------------------------------------
# A session unused for this long is signed out on its next request (0: never).
# apps.accounts.middleware.SessionIdleTimeout; see docs/security.md.
SESSION_IDLE_TIMEOUT_SECONDS = get_int("SESSION_IDLE_TIMEOUT_SECONDS", 30 * 60, minimum=0)

# API tokens -------------------------------------------------------------------------------------
API_TOKEN_DEFAULT_DAYS = get_int("API_TOKEN_DEFAULT_DAYS", 90, minimum=1)
API_TOKEN_MAX_DAYS = get_int("API_TOKEN_MAX_DAYS", 365, minimum=1)
