from django.urls import path

from . import views

app_name = "cases"

# Only ids in URLs: never a name or anything typed about a person.
urlpatterns = [
    path("", views.referral_list, name="list"),
    path("nouveau/", views.referral_create, name="create"),
    path("prefecture/", views.transmitted_list, name="transmitted"),
    path("archives/", views.archive_list, name="archive"),
    path("recherche/", views.search_person, name="search_person"),
    path("informations/", views.state_info_list, name="state_info_list"),
    path("informations/nouvelle/", views.state_info_create, name="state_info_create"),
    path("informations/<int:pk>/", views.state_info_detail, name="state_info_detail"),
    path("<int:pk>/", views.referral_detail, name="detail"),
    path("<int:pk>/brouillon/", views.referral_edit, name="edit"),
    path("<int:pk>/depose/", views.referral_filed, name="filed"),
    path("<int:pk>/supprimer/", views.referral_discard, name="discard"),
    path("<int:pk>/pieces/<int:attachment_pk>/", views.attachment_download, name="attachment"),
    path("<int:pk>/notes/", views.add_note, name="add_note"),
    path("<int:pk>/complement/", views.add_addendum, name="addendum"),
    path("<int:pk>/statut/", views.change_status, name="change_status"),
    path("<int:pk>/archiver/", views.archive_referral, name="archive_referral"),
    path("<int:pk>/archive/", views.archive_open, name="archive_open"),
    path("<int:pk>/acces/", views.grant_access, name="grant"),
    path("<int:pk>/acces/<int:grant_pk>/retrait/", views.revoke_access, name="revoke"),
    path("<int:pk>/transmission/", views.transmit, name="transmit"),
    path("<int:pk>/retour-prefecture/", views.prefecture_feedback, name="prefecture_feedback"),
    path("<int:pk>/retour-agent/", views.agent_feedback, name="agent_feedback"),
]
