from django.urls import path

from .views import charter, documents, pages, signatures

app_name = "conventions"

urlpatterns = [
    path("", pages.convention_list, name="list"),
    path("nouvelle/", pages.convention_create, name="create"),
    path("verifier/", documents.verify, name="verify"),
    path("departement/", pages.overview, name="overview"),
    path("<int:pk>/", pages.convention_detail, name="detail"),
    path("<int:pk>/modifier/", pages.convention_edit, name="edit"),
    path("<int:pk>/signataires/", signatures.signatory_add, name="signatory_add"),
    path(
        "<int:pk>/signataires/<int:signatory_id>/retirer/",
        signatures.signatory_remove,
        name="signatory_remove",
    ),
    path(
        "<int:pk>/signataires/<int:signatory_id>/signature/",
        signatures.signature_record,
        name="signature",
    ),
    path(
        "<int:pk>/envoyer-a-la-signature/", signatures.request_signatures, name="request_signatures"
    ),
    path("<int:pk>/constater-la-signature/", signatures.mark_signed, name="mark_signed"),
    path("<int:pk>/resilier/", signatures.terminate, name="terminate"),
    path("<int:pk>/non-reconduction/", signatures.non_renewal, name="non_renewal"),
    path("<int:pk>/documents/", documents.document_upload, name="document_upload"),
    path(
        "<int:pk>/documents/<int:document_id>/telecharger/",
        documents.document_download,
        name="document_download",
    ),
    path("charte/", charter.charter, name="charter"),
    path("charte/commune/<int:commune_id>/", charter.charter_commune, name="charter_commune"),
    path(
        "charte/departement/<int:department_id>/",
        charter.charter_department,
        name="charter_department",
    ),
]
