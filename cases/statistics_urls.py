from django.urls import path

from . import statistics_views as views

app_name = "statistics"

urlpatterns = [
    path("", views.index, name="index"),
    path("cellule/<int:pk>/rapport.pdf", views.report_pdf, name="report_pdf"),
    path("<str:kind>/<int:pk>/", views.page, name="page"),
    path("<str:kind>/<int:pk>/export.csv", views.export_csv, name="export_csv"),
]
