from __future__ import annotations

from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
# Versions first: "rubrics/versions/" must not be read as the rubric with id "versions" (the
# rubric routes also take digits only).
router.register("rubrics/versions", views.RubricVersionViewSet, basename="api-rubric-version")
router.register("rubrics", views.RubricViewSet, basename="api-rubric")

urlpatterns = router.urls
