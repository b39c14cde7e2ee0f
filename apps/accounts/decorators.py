"""The one page-permission decorator: who may open a page, decided before anything is read."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from .scoping import can_use

View = Callable[..., HttpResponseBase]  # a page, or a streamed download


def page_for(*features: str) -> Callable[[View], View]:
    """Sign-in required (anonymous visitors go to the sign-in page); then users with every one
    of ``features`` (``scoping.FEATURES``) only, the 403 page otherwise.

    What the view's services refuse or do not find is the 403 or 404 page too
    (``apps.common.middleware.ApplicationErrorPages``).
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not all(can_use(request.user, feature) for feature in features):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return login_required(wrapper)

    return decorator
