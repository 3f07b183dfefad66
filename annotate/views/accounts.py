"""Sign-up, the API token page and the home page; log-in, log-out and password reset are Django's own views."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from annotate.roles import ROLE_LABELS, Role, role_assign, user_roles
from annotate.selectors import api_token_status
from annotate.services import api_token_revoke, api_token_rotate
from annotate.usernames import look_alike_taken, username_problem


class SignUpForm(UserCreationForm):
    email = forms.EmailField(
        required=True, label=gettext_lazy("Email"), help_text=gettext_lazy("Used only for password reset.")
    )

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    USERNAME_PROBLEMS = {
        "nfkc": gettext_lazy("Use ordinary letters: full-width and other compatibility characters are not allowed."),
        "mixed_scripts": gettext_lazy(
            "A username cannot mix alphabets (for example Latin with Cyrillic or Greek letters that look alike)."
        ),
        "looks_latin": gettext_lazy("This username would look like a name in Latin letters; choose another."),
        "reserved": gettext_lazy("Usernames starting with “imported-” are reserved for imported annotations."),
        "look_alike": gettext_lazy("This username looks like the name of an existing account; choose another."),
    }

    def clean_username(self) -> str:
        username = super().clean_username()
        problem = username_problem(username or "") or ("look_alike" if look_alike_taken(username or "") else None)
        if problem:
            raise forms.ValidationError(self.USERNAME_PROBLEMS[problem], code=problem)
        return username


def user_sign_up(*, username: str, email: str, password: str):
    """Create a volunteer account (the default role on sign-up)."""
    with transaction.atomic():
        user = get_user_model().objects.create_user(username=username, email=email, password=password)
        role_assign(user=user, role=Role.VOLUNTEER)
    return user


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = user_sign_up(
            username=form.cleaned_data["username"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome! Your volunteer account is ready."))
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


def home(request: HttpRequest) -> HttpResponse:
    """Tell each role what to do next."""
    from annotate.staff import STAFF_ROLE_LABELS, staff_roles_held

    held = user_roles(request.user)
    labels = [ROLE_LABELS[role] for role in sorted(held, key=lambda r: r.value)]
    staff = staff_roles_held(request.user)
    labels += [STAFF_ROLE_LABELS[role] for role in staff]
    return render(request, "annotate/home.html", {"held_roles": labels, "staff_roles": staff})


@login_required
@require_http_methods(["GET", "POST"])
def api_token(request: HttpRequest) -> HttpResponse:
    """See whether you have an API token (its date and first characters), create a new one (shown once,
    on this response only) or revoke it. Changing your password revokes it too."""
    new_key = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            api_token_revoke(user=request.user)
            messages.success(request, _("Your API token is revoked."))
            return redirect("api_token")
        new_key = api_token_rotate(user=request.user).key
    response = render(
        request, "registration/api_token.html", {"status": api_token_status(user=request.user), "new_key": new_key}
    )
    response["Cache-Control"] = "no-store"  # the new key must not stay in a cache
    return response
