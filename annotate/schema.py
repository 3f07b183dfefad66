"""OpenAPI generation tweaks.

Views declare nested `InputSerializer`/`OutputSerializer` classes (one view per operation), so
component names are taken from the qualified name (`MeApi.OutputSerializer` -> `MeApiOutput`,
its request variant `MeApiOutputRequest`) instead of colliding on "Output"/"InputRequest".
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        cls = serializer if isinstance(serializer, type) else type(serializer)
        qualname = cls.__qualname__
        if "." not in qualname or "<locals>" in qualname:
            return name
        plain = cls.__name__.removesuffix("Serializer")
        suffix = name[len(plain) :] if name.startswith(plain) else None
        if suffix not in ("", "Request"):
            return name  # a name set explicitly (e.g. by extend_schema_serializer): keep it
        return qualname.replace(".", "").replace("Serializer", "") + suffix
