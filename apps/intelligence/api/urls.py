"""API routes of operators, rules and rule executions."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("operators", views.OperatorViewSet, basename="api-operator")
router.register("rules", views.RuleViewSet, basename="api-rule")
router.register("executions", views.ExecutionViewSet, basename="api-execution")

urlpatterns = router.urls
