from __future__ import annotations

from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("conversations", views.ConversationViewSet, basename="api-conversation")
router.register("participants", views.ParticipantViewSet, basename="api-participant")
router.register("communications", views.CommunicationViewSet, basename="api-communication")
router.register("access-log", views.TranscriptAccessViewSet, basename="api-access-log")

urlpatterns = router.urls
