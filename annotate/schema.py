"""OpenAPI generation tweaks.

Views declare nested `InputSerializer`/`OutputSerializer` classes (one view per operation), so
component names are taken from the qualified name (`MeApi.OutputSerializer` -> `MeApiOutput`)
instead of colliding on "Output".
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):  # noqa: ANN001, ANN202
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        cls = serializer if isinstance(serializer, type) else type(serializer)
        qualname = cls.__qualname__
        if "." in qualname and "<locals>" not in qualname and name == cls.__name__.removesuffix("Serializer"):
            name = qualname.replace(".", "").replace("Serializer", "")
        return name
