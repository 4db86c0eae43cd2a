from django.urls import path

from . import views

app_name = "training"

# No personal data in any URL: ids and fixed words only.
urlpatterns = [
    path("", views.session_list, name="list"),
    path("sessions/nouvelle/", views.session_create, name="create"),
    path("sessions/<int:pk>/", views.session_detail, name="detail"),
    path("sessions/<int:pk>/modifier/", views.session_edit, name="edit"),
    path("sessions/<int:pk>/tenue/", views.session_mark_held, name="mark_held"),
    path("sessions/<int:pk>/presences/import/", views.import_upload, name="import_upload"),
    path("sessions/<int:pk>/attestations/", views.bundle_request, name="bundle_request"),
    path("sessions/<int:pk>/emargement.<str:fmt>", views.sign_in_sheet, name="sign_in_sheet"),
    path("imports/<int:pk>/", views.import_preview, name="import_preview"),
    path("imports/<int:pk>/confirmer/", views.import_confirm, name="import_confirm"),
    path("imports/<int:pk>/suivi/", views.import_status, name="import_status"),
    path("imports/<int:pk>/abandonner/", views.import_cancel, name="import_cancel"),
    path("imports/<int:pk>/fichier/", views.import_file, name="import_file"),
    path("presences/<int:pk>/modifier/", views.attendance_edit, name="attendance_edit"),
    path("presences/<int:pk>/attestation/", views.attestation_pdf, name="attestation_pdf"),
    path("lots/<int:pk>/", views.bundle_download, name="bundle_download"),
    path("lots/<int:pk>/suivi/", views.bundle_status, name="bundle_status"),
    path("verifier/", views.verify, name="verify"),
    path("statistiques/", views.stats_page, name="stats"),
    path("statistiques/export.csv", views.stats_export_csv, name="stats_export_csv"),
    path("statistiques/export.xlsx", views.stats_export_xlsx, name="stats_export_xlsx"),
    path("effectifs/", views.headcounts, name="headcounts"),
    path("effectifs/<int:pk>/supprimer/", views.headcount_delete, name="headcount_delete"),
]
