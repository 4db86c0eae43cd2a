from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("", views.search, name="search"),
    path("export/<str:fmt>/", views.export, name="export"),
    path("exports/<int:pk>/", views.export_status, name="export_status"),
    path("exports/<int:pk>/telecharger/", views.export_download, name="export_download"),
    path("integrite/verifier/", views.verify_now, name="verify_now"),
    path("integrite/", views.integrity, name="integrity"),
    path("integrite/points-de-controle.txt", views.checkpoints_download, name="checkpoints"),
]
