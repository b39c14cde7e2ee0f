from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("insights/overview/", views.OverviewView.as_view(), name="api-insights-overview"),
    path("insights/criteria/", views.CriteriaView.as_view(), name="api-insights-criteria"),
    path(
        "insights/criteria.csv", views.CriteriaCsvView.as_view(), name="api-insights-criteria-csv"
    ),
    path("insights/heatmap/", views.HeatmapView.as_view(), name="api-insights-heatmap"),
    path("insights/labels/", views.LabelsView.as_view(), name="api-insights-labels"),
    path(
        "insights/virtual-agent/",
        views.VirtualAgentView.as_view(),
        name="api-insights-virtual-agent",
    ),
    path("insights/series/", views.SeriesView.as_view(), name="api-insights-series"),
    path(
        "insights/conversations/",
        views.ConversationsView.as_view(),
        name="api-insights-conversations",
    ),
    path(
        "insights/conversations.csv",
        views.ConversationsCsvView.as_view(),
        name="api-insights-facts-csv",
    ),
    # One route per table (not a path parameter): each is its own documented endpoint.
    *(
        path(f"insights/{table}.csv", views.TableCsvView.as_view(), {"table": table},
             name=f"api-insights-{table}-csv")
        for table in views.TABLES
    ),
    *(
        path(f"insights/{table}/", views.TableView.as_view(), {"table": table},
             name=f"api-insights-{table}")
        for table in views.TABLES
    ),
]  # fmt: skip
