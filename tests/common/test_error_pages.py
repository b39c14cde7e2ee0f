"""What a page shows when a service refuses: our errors are 4xx pages, never a 500."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse
from django.test import RequestFactory

from apps.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from apps.common.middleware import ApplicationErrorPages

pytestmark = pytest.mark.django_db


def handle(error):
    request = RequestFactory().get("/somewhere/")
    request.user = AnonymousUser()
    return ApplicationErrorPages(lambda r: HttpResponse()).process_exception(request, error)


def test_not_found_is_the_404_page_and_permission_denied_the_403_page():
    with pytest.raises(Http404, match="No such rule"):
        handle(NotFound("No such rule."))
    with pytest.raises(DjangoPermissionDenied, match="Only admins"):
        handle(PermissionDenied("Only admins may do this."))


@pytest.mark.parametrize(
    ("error", "status"),
    [(Conflict("Someone changed it first."), 409), (ValidationFailed({"x": ["Bad."]}), 400)],
)
def test_any_other_of_our_errors_is_a_page_with_its_status_and_message(error, status):
    response = handle(error)
    assert response.status_code == status
    assert error.message in response.content.decode()


def test_errors_that_are_not_ours_are_left_to_django():
    assert handle(ValueError("a bug")) is None


def test_no_template_shows_a_comment_as_text():
    """Django's {# #} comments end at the line: one left open spills onto the page."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    open_comments = [
        f"{path.relative_to(root)}:{number}"
        for path in [*root.glob("templates/**/*.html"), *root.glob("apps/*/templates/**/*.html")]
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "{#" in line and "#}" not in line[line.index("{#") :]
    ]
    assert open_comments == []
