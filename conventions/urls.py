from django.urls import path

from . import views

app_name = "conventions"

urlpatterns = [
    path("", views.convention_list, name="list"),
    path("nouvelle/", views.convention_create, name="create"),
    path("verifier/", views.verify, name="verify"),
    path("departement/", views.overview, name="overview"),
    path("<int:pk>/", views.convention_detail, name="detail"),
    path("<int:pk>/modifier/", views.convention_edit, name="edit"),
    path("<int:pk>/signataires/", views.signatory_add, name="signatory_add"),
    path(
        "<int:pk>/signataires/<int:signatory_id>/retirer/",
        views.signatory_remove,
        name="signatory_remove",
    ),
    path(
        "<int:pk>/signataires/<int:signatory_id>/signature/",
        views.signature_record,
        name="signature",
    ),
    path("<int:pk>/envoyer-a-la-signature/", views.request_signatures, name="request_signatures"),
    path("<int:pk>/constater-la-signature/", views.mark_signed, name="mark_signed"),
    path("<int:pk>/resilier/", views.terminate, name="terminate"),
    path("<int:pk>/non-reconduction/", views.non_renewal, name="non_renewal"),
    path("<int:pk>/documents/", views.document_upload, name="document_upload"),
    path(
        "<int:pk>/documents/<int:document_id>/telecharger/",
        views.document_download,
        name="document_download",
    ),
    path("charte/", views.charter, name="charter"),
    path("charte/commune/<int:commune_id>/", views.charter_commune, name="charter_commune"),
    path(
        "charte/departement/<int:department_id>/",
        views.charter_department,
        name="charter_department",
    ),
]
