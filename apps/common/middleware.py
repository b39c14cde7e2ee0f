"""Our errors on pages: a service's or selector's NotFound is the 404 page, its
PermissionDenied the 403 page (with its message), any other the error page with its status
and message: never a 500. The API maps them to JSON in ccportal/api.py."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from .errors import ApplicationError, NotFound, PermissionDenied


class ApplicationErrorPages:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, NotFound):
            raise Http404(exception.message) from exception
        if isinstance(exception, PermissionDenied):
            raise DjangoPermissionDenied(exception.message) from exception
        if isinstance(exception, ApplicationError):  # a view that did not expect it
            context = {"status": exception.status, "message": exception.message}
            return render(request, "error.html", context, status=exception.status)
        return None
