"""`{{ item.status|status_text }}`, `{{ entry.reason_code|reason_text }}`: a status value or a rejection reason in
the page's language (annotate/i18n.py)."""

from __future__ import annotations

from django import template

from annotate.i18n import reason_text as _reason_text
from annotate.i18n import status_text as _status_text

register = template.Library()


@register.filter
def status_text(value: object) -> str:
    return _status_text(value)


@register.filter
def reason_text(code: object) -> str:
    return _reason_text(code)
