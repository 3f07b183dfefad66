"""`{% model_opinion item as opinion %}`: the model's view of an item, for the reviewer partial only."""

from __future__ import annotations

from typing import Any

from django import template

from training.selectors import item_model_opinion

register = template.Library()


@register.simple_tag(takes_context=True)
def model_opinion(context: dict[str, Any], item: Any) -> dict[str, Any] | None:
    request = context.get("request")
    user = getattr(request, "user", None)
    if item is None or user is None:
        return None
    return item_model_opinion(item, user=user)  # None for anyone not reviewing the item's project
