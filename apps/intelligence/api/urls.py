"""API routes of operators, rules and rule executions."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from . import rules

router = SimpleRouter()
router.register("operators", rules.OperatorViewSet, basename="api-operator")
router.register("rules", rules.RuleViewSet, basename="api-rule")
router.register("executions", rules.ExecutionViewSet, basename="api-execution")

urlpatterns = router.urls
