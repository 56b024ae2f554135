"""Loading and validating API definitions (the seed-004 configuration shape)."""

from ._auth_model import (
    ApiKeyAuth,
    BasicAuth,
    BearerTokenAuth,
    CustomHeader,
    CustomHeaderAuth,
    NoAuth,
    OAuth2Auth,
    references,
)
from ._loader import load_config, parse_config
from ._model import (
    DEFAULT_DROPPED_RESPONSE_HEADERS,
    ENVIRONMENTS,
    METHODS,
    ApiConfig,
    Authentication,
    Config,
    Connection,
    Endpoint,
    Parameter,
    RateLimit,
    ResponseHeaders,
    Security,
    TlsConfig,
    normalize_environment,
)
from ._problems import ConfigError, Problem

__all__ = [
    "DEFAULT_DROPPED_RESPONSE_HEADERS",
    "ENVIRONMENTS",
    "METHODS",
    "ApiConfig",
    "ApiKeyAuth",
    "Authentication",
    "BasicAuth",
    "BearerTokenAuth",
    "Config",
    "ConfigError",
    "Connection",
    "CustomHeader",
    "CustomHeaderAuth",
    "Endpoint",
    "NoAuth",
    "OAuth2Auth",
    "Parameter",
    "Problem",
    "RateLimit",
    "ResponseHeaders",
    "Security",
    "TlsConfig",
    "load_config",
    "normalize_environment",
    "parse_config",
    "references",
]
