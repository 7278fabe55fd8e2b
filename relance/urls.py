from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from relance.accounts import passwords
from relance.console import two_factor
from relance.console.views import favicon
from relance.dunning import webhooks

# The console's pages of these errors, the portal's for a request to the portal.
handler400 = "relance.console.errors.bad_request"
handler403 = "relance.console.errors.permission_denied"
handler404 = "relance.console.errors.page_not_found"
handler500 = "relance.console.errors.server_error"

urlpatterns = [
    # Browsers ask for /favicon.ico whatever the pages link to.
    path("favicon.ico", require_safe(cache_control(max_age=86400)(favicon))),
    # Sign-in, then the code of an authenticator app for those who enrolled one.
    path("login/", two_factor.SignInView.as_view(), name="login"),
    path("login/code/", two_factor.code, name="two_factor_code"),
    path("account/two-factor/", two_factor.enrol, name="two_factor"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Password reset by e-mail (relance/accounts/passwords.py).
    path("password-reset/", passwords.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        passwords.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        passwords.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        passwords.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # Providers' bounce and delivery webhooks (django-anymail): 404 until their secret is set.
    path("anymail/", include((webhooks.urlpatterns(), "anymail"))),
    # Vonage's text-message receipts and inbound STOPs: 404 until their signature secret is set.
    path("sms/", include("relance.channels.sms.urls")),
    # Stripe's payment webhook, per organisation: 404 until it pays online.
    path("checkout/", include("relance.checkout.urls")),
    # The debtor's portal, opened by a personal link (relance/portal, docs/portal.md).
    path("p/", include("relance.portal.urls")),
    # The REST API (docs/api.md): bearer API keys, problem details for every error.
    path("api/", include("relance.api.urls")),
    path("", include("relance.console.urls")),
]
