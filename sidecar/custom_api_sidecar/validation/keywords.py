"""Where JSON Schema keeps subschemas: the one list every schema walker uses."""

# Keywords whose value is one schema.
SCHEMA_VALUED = frozenset(
    {
        "items",
        "additionalProperties",
        "additionalItems",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contentSchema",
    }
)
# Keywords whose value is a list of schemas.
SCHEMA_LIST_VALUED = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
# Keywords whose value maps names to schemas.
SCHEMA_MAP_VALUED = frozenset({"properties", "patternProperties", "dependentSchemas"})
# Containers of named definitions.
DEFINITIONS = frozenset({"$defs", "definitions"})
