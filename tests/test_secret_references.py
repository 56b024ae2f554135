"""Secret references: parsing, {environment}, bad references, and the literal-secret heuristic."""

from __future__ import annotations

import pytest

from custom_api_sidecar.secrets import SecretRef, is_reference, looks_like_secret, parse_reference


@pytest.mark.parametrize(
    ("text", "scheme", "location", "field"),
    [
        ("vault://kv/crm/api#key", "vault", "kv/crm/api", "key"),
        ("vault://secret/team/a/b#client_secret", "vault", "secret/team/a/b", "client_secret"),
        ("env://CRM_API_KEY", "env", "CRM_API_KEY", None),
        ("file:///run/secrets/crm", "file", "/run/secrets/crm", None),
        ("file:///run/secrets/crm.json#token", "file", "/run/secrets/crm.json", "token"),
    ],
)
def test_parse_valid_references(text: str, scheme: str, location: str, field: str | None) -> None:
    ref = parse_reference(text)
    assert (ref.text, ref.scheme, ref.location, ref.field) == (text, scheme, location, field)
    assert str(ref) == text
    assert is_reference(text)


def test_references_are_hashable_values() -> None:
    assert parse_reference("env://A") == parse_reference("env://A")
    assert len({parse_reference("env://A"), parse_reference("env://A"), parse_reference("env://B")}) == 2
    with pytest.raises(AttributeError):
        parse_reference("env://A").text = "env://B"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "environment", "expected"),
    [
        ("vault://kv/{environment}/crm#key", "sandbox", "vault://kv/sandbox/crm#key"),
        ("vault://kv/{environment}/crm#key", "pre-release", "vault://kv/pre-release/crm#key"),
        ("file:///run/secrets/{environment}/crm", "live", "file:///run/secrets/live/crm"),
        # Variable names cannot hold '-': upper case, '-' as '_'.
        ("env://CRM_KEY_{environment}", "pre-release", "env://CRM_KEY_PRE_RELEASE"),
        ("env://CRM_KEY_{environment}", "live", "env://CRM_KEY_LIVE"),
        ("env://CRM_KEY", "live", "env://CRM_KEY"),
    ],
)
def test_environment_placeholder(text: str, environment: str, expected: str) -> None:
    ref = parse_reference(text)
    resolved = ref.for_environment(environment)
    assert resolved == parse_reference(expected)
    assert not resolved.has_placeholder
    assert ref.has_placeholder == ("{environment}" in text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "non-empty string"),
        ("https://vault/kv#x", "unknown secret scheme 'https://'"),
        ("vault://kv#key", "vault://<mount>/<path>#<field>"),
        ("vault://kv//crm#key", "no empty segments"),
        ("vault://kv/../crm#key", "'..' are not allowed"),
        ("vault://kv/crm#", "empty field after '#'"),
        ("vault://kv/crm#a#b", "more than one '#'"),
        ("env://", "empty environment variable name"),
        ("env://CRM-KEY", "is not an environment variable name"),
        ("env://CRM_KEY#field", "takes no '#<field>'"),
        ("file://run/secrets/crm", "absolute path"),
        ("file:///run/secrets/", "names a directory"),
        ("vault://kv/{tenant}/crm#key", "unknown placeholder {tenant}"),
        ("vault://kv/my crm#key", "whitespace"),
        ("env://KEY\n", "control characters"),
    ],
)
def test_bad_references_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_reference(text)
    assert message in str(info.value)


def test_a_non_reference_is_never_echoed() -> None:
    secret = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
    with pytest.raises(ValueError) as info:
        parse_reference(secret)
    assert secret not in str(info.value)
    assert "is not a secret reference" in str(info.value)


@pytest.mark.parametrize("value", [None, 42, "", "kv/crm#key", "VAULT://kv/crm#key", "vault:/kv/crm#key"])
def test_is_reference_rejects_non_references(value: object) -> None:
    assert not is_reference(value)


def test_is_reference_does_not_validate() -> None:
    """A string written as a reference is one, even malformed; parse_reference then says why."""
    assert is_reference("vault://missing-field")
    with pytest.raises(ValueError):
        parse_reference("vault://missing-field")


@pytest.mark.parametrize(
    "value",
    [
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "sk_test_51H8abcdEFGHijklMNOP",
        "sk-proj-abcdefghijklmnop1234567890",
        "ghp_1234567890abcdefghijABCDEFGHIJ123456",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "AKIAIOSFODNN7EXAMPLE",
        "AIzaSyA1234567890abcdefghijklmnopqrstuv",
        "glpat-abcdefghij1234567890",
        "hvs.CAESIJ1234567890abcdefghijklmnop",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl",
        "-----BEGIN RSA PRIVATE KEY-----",
        "Bearer abcdef123456",
        "Basic dXNlcjpwYXNzd29yZA==",
        "d41d8cd98f00b204e9800998ecf8427e",  # 32 hex digits
        "Xk9pL2mQ7vR4tY8wZ3nB6cF1",  # random base62
        "k3j4h5g6f7d8s9a0q1w2e3r4t5",  # random lower case + digits
        "CANARY-7f3a9c1e5b2d8046aa",
    ],
)
def test_looks_like_secret(value: str) -> None:
    assert looks_like_secret(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "X-API-Key",
        "Authorization",
        "ApiKey ",
        "tenant_123",
        "application/json",
        "https://auth.example.com/oauth/token",
        "service-account-user",
        "customer_support_team_2024",
        "CustomerSupportTeam2024Q1",
        "550e8400-e29b-41d4-a716-446655440000",  # a UUID: more often an id than a credential
        "my client id for the crm",
        "read write admin",
        "crm-sidecar",
    ],
)
def test_does_not_look_like_secret(value: str) -> None:
    assert not looks_like_secret(value)


def test_secret_ref_is_a_dataclass_value() -> None:
    ref = SecretRef(text="env://A", scheme="env", location="A")
    assert ref == parse_reference("env://A")
