"""JSON Schema validation with OpenAPI semantics, compiled once at load.

``SchemaValidator(schema, "request", root="body").violation(instance)`` is None
or says where and why ``instance`` fails; ``ValidatorWarmup`` makes validators
faster in the background once the sidecar runs. Schema patterns run in linear time
(RE2); what RE2 cannot run is listed in ``SchemaValidator.unenforced``.
"""

from ._formats import CHECKED_FORMATS
from ._openapi import Direction, openapi_to_json_schema
from ._patterns import Unenforced
from ._shape import ObjectShape, object_shape
from ._shared import SchemaCache
from ._validator import SchemaError, SchemaValidator, Violation
from ._warmup import ValidatorWarmup

__all__ = [
    "CHECKED_FORMATS",
    "Direction",
    "ObjectShape",
    "SchemaCache",
    "SchemaError",
    "SchemaValidator",
    "Unenforced",
    "ValidatorWarmup",
    "Violation",
    "object_shape",
    "openapi_to_json_schema",
]
