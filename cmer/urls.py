from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import set_language

from cmer import views

# Every URL needs a login (LoginRequiredMiddleware) except those marked login_not_required; the
# allow-list is pinned in tests/core/test_url_security.py.
urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("comptes/", include("cmer.accounts.urls")),
    path("roles/", include("cmer.accounts.membership_urls")),
    path("signalements/", include("cases.urls")),
    path("statistiques/", include("cases.statistics_urls")),
    path("registre/", include("cmer.register_urls")),
    path("reunions/", include("meetings.urls")),
    path("formations/", include("training.urls")),
    path("conventions/", include("conventions.urls")),
    path("audit/", include("cmer.audit.urls")),
    path("conservation/", include("cmer.retention.urls")),
    # The admin has no login page of its own: everyone goes through e-mail + password + TOTP.
    path(
        "admin/login/",
        login_not_required(
            RedirectView.as_view(pattern_name=settings.LOGIN_URL, query_string=True)
        ),
    ),
    path("admin/", admin.site.urls),
]
