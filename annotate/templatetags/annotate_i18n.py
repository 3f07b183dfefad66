"""`{{ item.status|status_text }}`: a status value in the page's language (annotate/i18n.py)."""

from __future__ import annotations

from django import template

from annotate.i18n import status_text as _status_text

register = template.Library()


@register.filter
def status_text(value: object) -> str:
    return _status_text(value)
