from django.urls import path

from .views import (
    action_items,
    agenda,
    attendance,
    detail,
    downloads,
    lists,
    minutes,
    planning,
)

app_name = "meetings"

# Only ids in URLs: never a name, a place or a reference.
urlpatterns = [
    path("", lists.meeting_list, name="list"),
    path("nouvelle/", planning.meeting_create, name="create"),
    path("calendrier/", lists.calendar, name="calendar"),
    path("<int:pk>/", detail.meeting_detail, name="detail"),
    path("<int:pk>/modifier/", planning.meeting_edit, name="edit"),
    path("<int:pk>/annuler/", planning.meeting_cancel, name="cancel"),
    path("<int:pk>/tenue/", planning.mark_held, name="mark_held"),
    path("<int:pk>/externes/", attendance.add_external, name="add_external"),
    path(
        "<int:pk>/externes/<int:external_pk>/retirer/",
        attendance.remove_external,
        name="remove_external",
    ),
    path("<int:pk>/ordre-du-jour/sujet/", agenda.add_topic, name="add_topic"),
    path("<int:pk>/ordre-du-jour/signalement/", agenda.add_referral, name="add_referral"),
    path("<int:pk>/ordre-du-jour/<int:item_pk>/notes/", agenda.save_notes, name="save_notes"),
    path(
        "<int:pk>/ordre-du-jour/<int:item_pk>/decision/", agenda.add_decision, name="add_decision"
    ),
    path("<int:pk>/presences/", attendance.record_attendance, name="attendance"),
    path("<int:pk>/actions/", action_items.add_action, name="add_action"),
    path(
        "<int:pk>/actions/<int:action_pk>/etat/", action_items.action_status, name="action_status"
    ),
    path("<int:pk>/relecture/", minutes.send_for_review, name="send_for_review"),
    path("<int:pk>/corrections/", minutes.propose_correction, name="propose_correction"),
    path("<int:pk>/approbation/", minutes.approve, name="approve"),
    path("<int:pk>/additif/", minutes.add_addendum, name="addendum"),
    path("<int:pk>/emargement/", downloads.attendance_sheet, name="attendance_sheet"),
    path("<int:pk>/pdf/<int:document_pk>/", downloads.document_download, name="document"),
    path(
        "<int:pk>/pdf/<int:document_pk>/relancer/", downloads.document_retry, name="document_retry"
    ),
]
