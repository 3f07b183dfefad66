"""{% category_query_stats category %}: on the category page, how each collection query of the latest run did."""

from django import template

from labeling.selectors.collection import query_stats

register = template.Library()


@register.inclusion_tag("labeling/collection/_category_queries.html")
def category_query_stats(category) -> dict:
    return {"category": category, "stats": query_stats(project=category.project, category=category)}
