"""Password forms that revoke the user's API token when they set a new password (issue 17, finding 2).

Every place that sets a password through a form uses one of these: the reset link
(`PasswordResetConfirmView`) and the admin's "change password" page. `manage.py changepassword` and the
shell do not: after those, revoke the token on the account page or `DELETE /api/auth/token/`.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import forms as auth_forms

from annotate.services import user_credentials_changed


class _RevokesTokenOnSave:
    def set_password_and_save(self, user: Any, *args: Any, **kwargs: Any) -> Any:
        user = super().set_password_and_save(user, *args, **kwargs)  # type: ignore[misc]
        user_credentials_changed(user=user)
        return user


class SetPasswordForm(_RevokesTokenOnSave, auth_forms.SetPasswordForm):
    pass


class AdminPasswordChangeForm(_RevokesTokenOnSave, auth_forms.AdminPasswordChangeForm):
    pass
