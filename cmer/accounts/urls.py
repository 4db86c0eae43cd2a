from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import path, reverse_lazy

from . import stepup, views
from .forms import DsfrPasswordResetForm, DsfrSetPasswordForm

app_name = "accounts"

urlpatterns = [
    path("connexion/", login_not_required(views.LoginView.as_view()), name="login"),
    path("deconnexion/", auth_views.LogoutView.as_view(), name="logout"),
    path("verification/", views.otp_verify, name="otp_verify"),
    path("enrolement/", views.otp_enrol, name="otp_enrol"),
    path("activation/<uidb64>/<token>/", views.enrol, name="enrol"),
    path("compte/", views.account, name="account"),
    path("compte/confirmation/", stepup.page, name="stepup"),
    path("compte/sessions/", views.session_list, name="sessions"),
    path("compte/sessions/autres/fermer/", views.session_end_others, name="sessions_end_others"),
    path("compte/sessions/<int:pk>/fermer/", views.session_end, name="session_end"),
    path("compte/mot-de-passe/", views.PasswordChangeView.as_view(), name="password_change"),
    path("compte/adresse/", views.change_email, name="change_email"),
    path("compte/second-facteur/", views.reset_second_factor, name="reset_second_factor"),
    path("compte/codes-de-secours/", views.regenerate_backup_codes, name="backup_codes"),
    path("commune/", views.switch_commune, name="switch_commune"),
    path(
        "mot-de-passe-oublie/",
        login_not_required(
            auth_views.PasswordResetView.as_view(
                template_name="accounts/form_page.html",
                form_class=DsfrPasswordResetForm,
                email_template_name="accounts/password_reset_email.txt",
                subject_template_name="accounts/password_reset_subject.txt",
                success_url=reverse_lazy("accounts:password_reset_done"),
            )
        ),
        name="password_reset",
    ),
    path(
        "mot-de-passe-oublie/envoye/",
        login_not_required(
            auth_views.PasswordResetDoneView.as_view(template_name="accounts/reset_done.html")
        ),
        name="password_reset_done",
    ),
    path(
        "reinitialisation/<uidb64>/<token>/",
        login_not_required(
            auth_views.PasswordResetConfirmView.as_view(
                template_name="accounts/form_page.html",
                form_class=DsfrSetPasswordForm,
                success_url=reverse_lazy("accounts:password_reset_complete"),
            )
        ),
        name="password_reset_confirm",
    ),
    path(
        "reinitialisation/terminee/",
        login_not_required(
            auth_views.PasswordResetCompleteView.as_view(
                template_name="accounts/reset_complete.html"
            )
        ),
        name="password_reset_complete",
    ),
]
