from django.urls import path

from . import membership_views as views

app_name = "memberships"

urlpatterns = [
    path("demandes/", views.pending, name="pending"),
    path("demandes/<int:pk>/confirmer/", views.confirm, name="confirm"),
    path("demandes/<int:pk>/refuser/", views.refuse, name="refuse"),
]
