from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("", views.search, name="search"),
    path("export/<str:fmt>/", views.export, name="export"),
    path("integrite/", views.integrity, name="integrity"),
    path("integrite/points-de-controle.txt", views.checkpoints_download, name="checkpoints"),
]
