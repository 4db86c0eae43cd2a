from django.urls import path

from . import views

app_name = "conventions"

urlpatterns = [
    path("charte/", views.charter, name="charter"),
]
