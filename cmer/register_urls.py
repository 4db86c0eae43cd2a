from django.urls import path

from cmer import register_views as views

app_name = "register"

urlpatterns = [
    path("", views.page, name="page"),
    path("registre.pdf", views.pdf, name="pdf"),
]
