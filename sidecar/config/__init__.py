"""Loading and validating API definitions (the seed-004 configuration shape)."""

from ._loader import load_config, parse_config
from ._model import (
    ENVIRONMENTS,
    METHODS,
    ApiConfig,
    Authentication,
    Config,
    Connection,
    Endpoint,
    Parameter,
    RateLimit,
    Security,
    normalize_environment,
)
from ._problems import ConfigError, Problem

__all__ = [
    "ENVIRONMENTS",
    "METHODS",
    "ApiConfig",
    "Authentication",
    "Config",
    "ConfigError",
    "Connection",
    "Endpoint",
    "Parameter",
    "Problem",
    "RateLimit",
    "Security",
    "load_config",
    "normalize_environment",
    "parse_config",
]
