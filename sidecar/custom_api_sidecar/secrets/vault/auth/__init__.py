"""Vault auth methods, one module each, all returning a ``Login``."""

from ._login import AuthMethod, Credential, Login
from .approle import AppRoleAuth
from .jwt import JwtAuth
from .kubernetes import KubernetesAuth
from .token import TokenAuth

__all__ = ["AppRoleAuth", "AuthMethod", "Credential", "JwtAuth", "KubernetesAuth", "Login", "TokenAuth"]
