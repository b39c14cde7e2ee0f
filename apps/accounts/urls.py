from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.notification_list, name="notifications"),
    path("menu/", views.notification_menu, name="notification-menu"),
    path("read/", views.notification_read, name="notification-read"),
]
