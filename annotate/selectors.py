"""Core reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.base_user import AbstractBaseUser
from rest_framework.authtoken.models import Token


@dataclass(frozen=True)
class TokenStatus:
    """What a user may see of their token after it was created: when, and its first characters."""

    exists: bool
    created: datetime | None = None
    prefix: str | None = None


def api_token_status(*, user: AbstractBaseUser) -> TokenStatus:
    token = Token.objects.filter(user=user).only("key", "created").first()
    if token is None:
        return TokenStatus(exists=False)
    return TokenStatus(exists=True, created=token.created, prefix=token.key[:4])
