from django.urls import path

from . import views

app_name = "retention"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("regle-des-25-ans/", views.age_rule, name="age_rule"),
    path("gels/", views.legal_hold, name="legal_hold"),
    path("gels/<int:pk>/lever/", views.lift_hold, name="lift_hold"),
    path("certificats/<int:pk>.pdf", views.certificate_pdf, name="certificate"),
    path("certificats/verifier/", views.verify, name="verify"),
]
