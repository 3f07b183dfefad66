from typing import Any

from annotate.roles import Role, user_roles


def roles(request: Any) -> dict[str, Any]:
    held = user_roles(request.user) if hasattr(request, "user") else frozenset()
    return {"roles": {role.value: role in held for role in Role}}
