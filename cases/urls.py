from django.urls import path

from .views import archive, changes, detail, dossier, filing, lists, search, state_info

app_name = "cases"

# Only ids in URLs: never a name or anything typed about a person.
urlpatterns = [
    path("", lists.referral_list, name="list"),
    path("nouveau/", filing.referral_create, name="create"),
    path("prefecture/", lists.transmitted_list, name="transmitted"),
    path("archives/", lists.archive_list, name="archive"),
    path("recherche/", search.search_person, name="search_person"),
    path("informations/", state_info.state_info_list, name="state_info_list"),
    path("informations/nouvelle/", state_info.state_info_create, name="state_info_create"),
    path("informations/<int:pk>/", state_info.state_info_detail, name="state_info_detail"),
    path("<int:pk>/", detail.referral_detail, name="detail"),
    path("<int:pk>/brouillon/", filing.referral_edit, name="edit"),
    path("<int:pk>/depose/", filing.referral_filed, name="filed"),
    path("<int:pk>/supprimer/", filing.referral_discard, name="discard"),
    path("<int:pk>/dossier.pdf", dossier.referral_dossier, name="dossier"),
    path("<int:pk>/pieces/<int:attachment_pk>/", detail.attachment_download, name="attachment"),
    path("<int:pk>/notes/", changes.add_note, name="add_note"),
    path("<int:pk>/complement/", changes.add_addendum, name="addendum"),
    path("<int:pk>/statut/", changes.change_status, name="change_status"),
    path("<int:pk>/archiver/", changes.archive_referral, name="archive_referral"),
    path("<int:pk>/archive/", archive.archive_open, name="archive_open"),
    path("<int:pk>/acces/", changes.grant_access, name="grant"),
    path("<int:pk>/acces/<int:grant_pk>/retrait/", changes.revoke_access, name="revoke"),
    path("<int:pk>/transmission/", changes.transmit, name="transmit"),
    path("<int:pk>/retour-prefecture/", changes.prefecture_feedback, name="prefecture_feedback"),
    path("<int:pk>/retour-agent/", changes.agent_feedback, name="agent_feedback"),
]
