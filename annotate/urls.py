from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.decorators.cache import cache_control
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from annotate.forms import SetPasswordForm
from annotate.ratelimit import login_rate_limited, signup_rate_limited
from annotate.views import accounts, health, metrics


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    return HttpResponsePermanentRedirect(static("annotate/favicon.svg"))  # resolved per request: hashed names


urlpatterns = [
    path("", accounts.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    # Browsers ask for /favicon.ico whatever the page says; pages also name the SVG (base.html).
    path("favicon.ico", favicon, name="favicon"),
    path("metrics", metrics.metrics, name="metrics"),
    path("accounts/signup/", signup_rate_limited(accounts.signup), name="signup"),
    path(
        "accounts/login/",
        login_rate_limited(auth_views.LoginView.as_view(redirect_authenticated_user=True)),
        name="login",
    ),
    path("accounts/token/", accounts.api_token, name="api_token"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/password_reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(form_class=SetPasswordForm),
        name="password_reset_confirm",
    ),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    # The header's language switcher posts here (Django's set_language: sets the language cookie).
    path("i18n/", include("django.conf.urls.i18n")),
    # Translations for static/**/*.js, loaded as a script file before the page's modules (CSP: script-src 'self').
    # Its URL names the language (base.html), so a browser may keep it for an hour: one request less per page.
    path("jsi18n/", cache_control(max_age=3600)(JavaScriptCatalog.as_view()), name="javascript-catalog"),
    path("admin/login/", login_rate_limited(admin.site.login)),  # same URL as admin:login, rate limited
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/", include("annotate.api_urls")),
    path("", include("labeling.views.urls")),
    path("", include("training.views.urls")),
    path("", include("crowdpay.urls")),
]

# Under /api/ Django's own error pages answer in the API's JSON shape (annotate/exceptions.py).
handler400 = "annotate.exceptions.bad_request"
handler403 = "annotate.exceptions.permission_denied"
handler404 = "annotate.exceptions.page_not_found"
handler500 = "annotate.exceptions.server_error"
