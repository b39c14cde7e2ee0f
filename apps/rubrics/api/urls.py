from __future__ import annotations

from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
# Versions first, so "rubrics/versions/" is never read as the rubric with id "versions".
router.register("rubrics/versions", views.RubricVersionViewSet, basename="api-rubric-version")
router.register("rubrics", views.RubricViewSet, basename="api-rubric")

urlpatterns = router.urls
