"""{% pay_forecast project %}: the cost and days to finish, on the project page, next to the votes."""

from django import template

from crowdpay.selectors import forecast

register = template.Library()


@register.inclusion_tag("crowdpay/_forecast.html")
def pay_forecast(project) -> dict:
    if not project.reward_cents and project.budget_cents is None:
        return {"show": False}
    return {"show": True, "project": project, "f": forecast(project=project)}


@register.filter
def cents(value) -> str:
    """1234 -> '12.34' (integer cents, no float)."""
    if value is None:
        return "–"
    value = int(value)
    sign = "-" if value < 0 else ""
    return f"{sign}{abs(value) // 100}.{abs(value) % 100:02d}"


@register.inclusion_tag("crowdpay/_earnings.html")
def earnings_summary(user) -> dict:
    """The worker's paid totals per project, on their profile (nothing for someone never paid)."""
    from crowdpay.selectors import worker_earnings

    return {"rows": worker_earnings(user=user)}
