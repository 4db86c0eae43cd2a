from django.urls import path

from . import views

app_name = "meetings"

# Only ids in URLs: never a name, a place or a reference.
urlpatterns = [
    path("", views.meeting_list, name="list"),
    path("nouvelle/", views.meeting_create, name="create"),
    path("calendrier/", views.calendar, name="calendar"),
    path("<int:pk>/", views.meeting_detail, name="detail"),
    path("<int:pk>/modifier/", views.meeting_edit, name="edit"),
    path("<int:pk>/annuler/", views.meeting_cancel, name="cancel"),
    path("<int:pk>/tenue/", views.mark_held, name="mark_held"),
    path("<int:pk>/externes/", views.add_external, name="add_external"),
    path(
        "<int:pk>/externes/<int:external_pk>/retirer/",
        views.remove_external,
        name="remove_external",
    ),
    path("<int:pk>/ordre-du-jour/sujet/", views.add_topic, name="add_topic"),
    path("<int:pk>/ordre-du-jour/signalement/", views.add_referral, name="add_referral"),
    path("<int:pk>/ordre-du-jour/<int:item_pk>/notes/", views.save_notes, name="save_notes"),
    path("<int:pk>/ordre-du-jour/<int:item_pk>/decision/", views.add_decision, name="add_decision"),
    path("<int:pk>/presences/", views.record_attendance, name="attendance"),
    path("<int:pk>/actions/", views.add_action, name="add_action"),
    path("<int:pk>/actions/<int:action_pk>/etat/", views.action_status, name="action_status"),
    path("<int:pk>/relecture/", views.send_for_review, name="send_for_review"),
    path("<int:pk>/corrections/", views.propose_correction, name="propose_correction"),
    path("<int:pk>/approbation/", views.approve, name="approve"),
    path("<int:pk>/additif/", views.add_addendum, name="addendum"),
    path("<int:pk>/emargement/", views.attendance_sheet, name="attendance_sheet"),
    path("<int:pk>/pdf/<int:document_pk>/", views.document_download, name="document"),
    path("<int:pk>/pdf/<int:document_pk>/relancer/", views.document_retry, name="document_retry"),
]
