"""A generated OpenAPI 3.0 spec shaped like the largest public APIs (GitHub's REST API,
Stripe's): about 13 MB and 1,200 operations at the default size.

What makes such specs heavy, and what this one has, from one seeded generator (the same
bytes every run):
- a deep graph of shared component schemas: every resource has a full schema, a simple one
  and often a nullable copy (GitHub's ``nullable-simple-user`` style) and named nested
  settings objects (Stripe's style); full schemas refer to the simple ones of their
  neighbours, and about a third have Stripe-style "expandable" fields (``anyOf: [id string,
  full schema]``), so full schemas reach each other, in cycles too: at 1,200 operations a
  response schema needs 10 definitions on average and up to 46;
- long markdown descriptions on operations, parameters and fields, in varied sentences;
- big enums (countries, currencies, time zones, locales, and a webhook event type per
  resource action: 960 values at full size), nested objects five levels deep,
  ``allOf`` compositions, a timeline ``anyOf`` of twenty event schemas, ``oneOf`` request
  bodies, form-encoded bodies, patterns, formats, ``readOnly`` and ``nullable`` fields;
- shared ``components/parameters``, ``responses`` and ``examples`` (response examples are a
  large part of real specs' size; the importer reads past them);
- operationIds like GitHub's (``actions/list-jobs-for-workflow-run-attempt``), some longer
  than a tool name may be, and names that collide once shortened.

``build(operations=...)`` makes a smaller spec of the same shape (the CI test uses one);
``python -m bench.large_spec`` measures the full-size one.
"""

from __future__ import annotations

import json
import pathlib
import random
from collections.abc import Iterator
from typing import Any

DEFAULT_OPERATIONS = 1200
_SEED = 21

# --- vocabulary ---------------------------------------------------------------------------------

_TAGS = (
    "actions", "activity", "apps", "billing", "checks", "classroom", "code-scanning", "codespaces",
    "copilot", "dependabot", "dependency-graph", "deployments", "emojis", "gists", "git", "interactions",
    "issues", "licenses", "markdown", "merge-queue", "meta", "migrations", "oidc", "orgs", "packages",
    "pages", "projects", "pulls", "rate-limit", "reactions", "releases", "repos", "search",
    "secret-scanning", "security-advisories", "teams", "users", "payments", "invoicing", "customers",
    "subscriptions", "issuing", "treasury", "terminal", "radar", "reporting", "webhooks", "identity",
)  # fmt: skip
_NOUNS = (
    "artifact", "cache", "runner", "runner-group", "workflow", "workflow-run", "job", "secret", "variable",
    "environment", "deployment", "status", "check-run", "check-suite", "alert", "advisory", "comment",
    "review", "review-comment", "label", "milestone", "event", "hook", "delivery", "invitation",
    "membership", "member", "project", "column", "card", "release", "asset", "branch", "commit", "tree",
    "blob", "reference", "key", "gpg-key", "ssh-key", "package", "package-version", "invoice", "charge",
    "refund", "dispute", "payout", "transfer", "customer", "subscription", "price", "product", "coupon",
    "discount", "tax-rate", "session", "payment-intent", "setup-intent", "mandate", "source", "token",
    "balance-transaction", "file", "report-run", "export", "import", "ruleset", "rule", "policy",
    "permission", "role", "grant", "installation", "authorization", "codespace", "machine", "prebuild",
    "snapshot", "note", "thread", "subscription-item", "usage-record", "quote", "credit-note",
    "cardholder", "transaction", "reader", "location", "review-request", "autolink", "collaborator",
    "discussion", "pin", "topic", "tag-protection", "attestation", "seat", "assignment", "classroom",
)  # fmt: skip
_ACTIONS = (
    "rerun", "cancel", "approve", "lock", "unlock", "archive", "restore", "transfer", "sync", "retry",
    "finalize", "void", "capture", "confirm", "verify", "dismiss", "redeliver", "publish", "expire",
)  # fmt: skip
_SUBJECTS = (
    "The authenticated user", "An organization owner", "Anyone with read access to the repository",
    "A GitHub App installation", "A connected account", "An administrator", "The platform",
    "A fine-grained token", "An OAuth app", "A billing manager", "The account holder", "A team maintainer",
)  # fmt: skip
_VERBS = (
    "can use", "must have access to", "needs permission to call", "may not use", "can page through",
    "is rate limited on", "receives a webhook for", "can filter", "is notified about", "can audit",
)  # fmt: skip
_OBJECTS = (
    "this endpoint", "the list of results", "the returned objects", "these resources", "the audit log",
    "private resources", "the sandbox environment", "archived items", "the response headers",
)  # fmt: skip
_CLAUSES = (
    "when the feature is enabled for the organization",
    "unless the resource has been archived",
    "if the caller is a member of the owning team",
    "with a token that has the `repo` scope",
    "for up to 90 days after the event",
    "only for accounts in live mode",
    "after the first page of results",
    "when two-factor authentication is required",
    "as long as the idempotency key is the same",
    "provided the enterprise policy allows it",
)
_FIELDS = (
    "visibility", "archived", "default_branch", "size", "score", "email", "sha", "color", "language",
    "topics", "statement_descriptor", "livemode", "priority", "conclusion", "amount", "amount_refunded",
    "percent_off", "expires_at", "uuid", "slug", "title", "body", "path", "position", "line",
    "commit_id", "reason", "locked", "draft", "prerelease", "tag_name", "target_commitish", "homepage",
    "has_issues", "has_wiki", "has_pages", "forks_count", "stargazers_count", "watchers_count",
    "open_issues_count", "pushed_at", "closed_at", "merged_at", "due_on", "started_at", "completed_at",
    "head_branch", "head_sha", "run_number", "run_attempt", "event", "display_title", "country",
    "currency", "timezone", "locale", "phone", "company", "blog", "location", "bio", "twitter_username",
    "hireable", "followers", "following", "public_repos", "billing_reason", "collection_method",
    "days_until_due", "cancel_at_period_end", "current_period_end", "trial_end", "quantity",
    "unit_amount", "interval", "interval_count", "usage_type", "tax_behavior", "capture_method",
    "confirmation_method", "payment_method_types", "receipt_email", "setup_future_usage",
    "application_fee_amount", "on_behalf_of", "transfer_group", "failure_code", "failure_message",
    "fingerprint", "last4", "exp_month", "exp_year", "brand", "funding", "network", "wallet",
    "category", "severity", "state_reason", "rule_id", "tool_name", "most_recent_instance",
    "dismissed_reason", "dismissed_comment", "fixed_at", "auto_dismissed_at", "ecosystem",
    "manifest_path", "scope", "vulnerable_version_range", "first_patched_version", "cvss_score",
    "cwe_ids", "ghsa_id", "cve_id", "summary", "published_at", "withdrawn_at", "external_id",
    "details_url", "annotations_count", "retention_days", "storage_bytes", "runner_name", "labels_count",
)  # fmt: skip
_ENUMS = {
    "visibility": ["public", "private", "internal"],
    "priority": ["low", "normal", "high", "urgent"],
    "conclusion": ["success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required", "stale"],
    "reason": ["off-topic", "too heated", "resolved", "spam", "duplicate", "outdated"],
    "billing_reason": ["subscription_cycle", "subscription_create", "subscription_update", "manual", "upcoming"],
    "collection_method": ["charge_automatically", "send_invoice"],
    "interval": ["day", "week", "month", "year"],
    "usage_type": ["licensed", "metered"],
    "tax_behavior": ["exclusive", "inclusive", "unspecified"],
    "capture_method": ["automatic", "automatic_async", "manual"],
    "confirmation_method": ["automatic", "manual"],
    "setup_future_usage": ["off_session", "on_session"],
    "funding": ["credit", "debit", "prepaid", "unknown"],
    "category": ["build", "test", "deploy", "security", "quality", "documentation", "maintenance"],
    "severity": ["none", "note", "warning", "error", "low", "medium", "high", "critical"],
    "state_reason": ["completed", "reopened", "not_planned", "duplicate"],
    "dismissed_reason": ["false positive", "won't fix", "used in tests", "inaccurate", "no_bandwidth"],
    "ecosystem": ["rubygems", "npm", "pip", "maven", "nuget", "composer", "go", "rust", "erlang", "actions", "pub"],
    "scope": ["development", "runtime"],
    "brand": ["amex", "diners", "discover", "eftpos_au", "jcb", "mastercard", "unionpay", "visa", "unknown"],
    "event": ["push", "pull_request", "schedule", "workflow_dispatch", "release", "merge_group", "repository_dispatch"],
}
_STATES = (
    ["open", "closed"],
    ["queued", "in_progress", "completed", "waiting", "requested", "pending"],
    ["draft", "open", "paid", "uncollectible", "void"],
    ["active", "past_due", "unpaid", "canceled", "incomplete", "incomplete_expired", "trialing", "paused"],
    ["requires_payment_method", "requires_confirmation", "requires_action", "processing", "succeeded", "canceled"],
    ["pending", "accepted", "rejected", "expired"],
    ["fixed", "open", "dismissed", "auto_dismissed"],
)
_PATTERNS = {
    "sha": "^[0-9a-f]{40}$",
    "color": "^[0-9a-fA-F]{6}$",
    "slug": "^[a-z0-9]+(?:-[a-z0-9]+)*$",
    "ghsa_id": "^GHSA-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$",
    "cve_id": "^CVE-[0-9]{4}-[0-9]{4,}$",
    "last4": "^[0-9]{4}$",
    "phone": "^\\+[1-9][0-9]{6,14}$",
}
_COUNTRIES = [a + b for a in "ABCDEFGHIKLMNPRSTUVZ" for b in "ADEFGHIKLMNORSTUWYZ"][:249]
_CURRENCIES = [a + b + c for a in "abcdeghijklmnpqrstuvxyz" for b in "aeinoruz" for c in "dnprs"][:160]
_REGIONS = ("Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")
_CITIES = (
    "Abidjan", "Accra", "Adelaide", "Algiers", "Almaty", "Amman", "Amsterdam", "Anchorage", "Andorra",
    "Ankara", "Apia", "Araguaina", "Ashgabat", "Asmara", "Athens", "Auckland", "Azores", "Baghdad",
    "Bahia", "Baku", "Bamako", "Bangkok", "Barbados", "Beirut", "Belem", "Belgrade", "Belize", "Berlin",
    "Bermuda", "Bishkek", "Bogota", "Boise", "Bratislava", "Brisbane", "Brunei", "Brussels", "Bucharest",
    "Budapest",
)  # fmt: skip
_TIMEZONES = sorted({f"{region}/{city}" for region in _REGIONS for city in _CITIES})
_LOCALES = [
    f"{lang}-{country}" for lang in ("de", "en", "es", "fr", "it", "ja", "nl", "pt") for country in _COUNTRIES[:8]
]


class _Text:
    """Varied, deterministic prose: real specs' descriptions are long and rarely repeat."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def sentence(self) -> str:
        r = self.rng
        return f"{r.choice(_SUBJECTS)} {r.choice(_VERBS)} {r.choice(_OBJECTS)} {r.choice(_CLAUSES)}."

    def paragraph(self, low: int, high: int) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(low, high)))

    def operation(self, verb: str, noun: str, tag: str) -> str:
        parts = [
            f"{verb.capitalize()} {noun.replace('-', ' ')}s. {self.paragraph(1, 3)}",
            self.paragraph(1, 3),
            f"OAuth app tokens and personal access tokens (classic) need the `{tag}` scope to use this endpoint. "
            f'For more information, see "[About {noun.replace("-", " ")}s]'
            f'(https://docs.example.com/rest/{tag}/{noun}s#about-{noun}s)."',
        ]
        if self.rng.random() < 0.4:
            parts.append(f"> [!NOTE]\n> {self.paragraph(1, 2)}")
        return "\n\n".join(parts)


# --- the spec ---------------------------------------------------------------------------------


class _Resource:
    def __init__(self, index: int, tag: str, noun: str) -> None:
        self.index, self.tag, self.noun = index, tag, noun
        self.name = f"{tag}-{noun}" if not tag.startswith(noun) else noun
        self.plural = f"{noun}s"
        self.id_param = f"{noun.replace('-', '_')}_id"
        self.fields: dict[str, Any] = {}  # writable fields, reused by request bodies
        self.nullable_simple = False


def _resources(operations: int, rng: random.Random) -> list[_Resource]:
    count = max(4, round(operations / 5))
    out, used = [], set()
    while len(out) < count:
        tag, noun = _TAGS[len(out) % len(_TAGS)], rng.choice(_NOUNS)
        if (tag, noun) in used:
            continue
        used.add((tag, noun))
        out.append(_Resource(len(out), tag, noun))
    return out


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _field(name: str, text: _Text, rng: random.Random) -> dict[str, Any]:
    """A property schema of the kind real specs give a field of that name."""
    description = text.paragraph(1, 2)
    if name in _ENUMS:
        schema: dict[str, Any] = {"type": "string", "enum": _ENUMS[name], "description": description}
    elif name in _PATTERNS:
        schema = {"type": "string", "pattern": _PATTERNS[name], "description": description}
    elif name in ("country", "currency", "timezone", "locale"):
        schema = {**_ref(f"{name}-code"), "description": description}
    elif name.endswith(("_at", "_on", "_end")):
        schema = {"type": "string", "format": "date-time", "nullable": True, "description": description}
        schema["example"] = "2024-01-26T19:01:12Z"
    elif name.endswith(("_count", "_amount", "_number", "_attempt", "_days", "_bytes")) or name in (
        "size", "amount", "quantity", "followers", "following", "public_repos", "position", "line",
        "exp_month", "exp_year", "interval_count", "unit_amount", "amount_refunded", "days_until_due",
    ):  # fmt: skip
        schema = {"type": "integer", "minimum": 0, "description": description, "example": rng.randint(1, 5000)}
        if name.startswith("exp_month"):
            schema["maximum"] = 12
    elif name in ("score", "percent_off", "cvss_score"):
        schema = {"type": "number", "minimum": 0, "maximum": 100, "description": description}
    elif name.startswith(("has_", "is_")) or name in ("archived", "livemode", "locked", "draft", "prerelease"):
        schema = {"type": "boolean", "description": description, "example": rng.random() < 0.5}
    elif name in ("topics", "payment_method_types", "cwe_ids", "labels_count"):
        schema = {"type": "array", "items": {"type": "string", "maxLength": 100}, "description": description}
    elif name in ("email", "receipt_email"):
        schema = {"type": "string", "format": "email", "nullable": True, "description": description}
    elif name == "uuid":
        schema = {"type": "string", "format": "uuid", "description": description}
    elif name in ("homepage", "blog", "details_url"):
        schema = {"type": "string", "format": "uri", "nullable": True, "description": description}
    else:
        schema = {"type": "string", "maxLength": rng.choice((100, 255, 1024, 65536)), "description": description}
        if rng.random() < 0.3:
            schema["nullable"] = True
        schema["example"] = f"{name.replace('_', '-')}-{rng.randint(1, 999)}"
    return schema


def _nested(
    depth: int, text: _Text, rng: random.Random, noun: str, named: dict[str, Any] | None = None, prefix: str = ""
) -> dict[str, Any]:
    """An object `depth` levels deep (Stripe's payment_method_options, GitHub's permissions); with
    ``named``, some levels become component schemas there, as Stripe names its nested objects."""
    properties: dict[str, Any] = {}
    for name in rng.sample(_FIELDS, rng.randint(3, 6)):
        properties[name] = _field(name, text, rng)
    if depth > 1:
        child = rng.choice(("options", "settings", "mandate_options", "limits", "rules", "config"))
        inner = _nested(depth - 1, text, rng, noun, named, f"{prefix}-{child}")
        if named is not None and rng.random() < 0.6:
            named[f"{prefix}-{child}"] = inner
            inner = _ref(f"{prefix}-{child}")
        properties[child] = inner
    return {
        "type": "object",
        "description": f"Settings of the {noun.replace('-', ' ')}. {text.sentence()}",
        "properties": properties,
    }


def _full_schema(
    res: _Resource, all_res: list[_Resource], text: _Text, rng: random.Random, named: dict[str, Any]
) -> dict[str, Any]:
    states = _STATES[res.index % len(_STATES)]
    properties: dict[str, Any] = {
        "id": {"type": "integer", "format": "int64", "readOnly": True, "example": 42 + res.index},
        "node_id": {"type": "string", "readOnly": True, "example": f"MDEwOlJlc{res.index:05d}"},
        "url": {"type": "string", "format": "uri", "readOnly": True},
        "html_url": {"type": "string", "format": "uri", "readOnly": True},
        "name": {"type": "string", "maxLength": 255, "description": text.sentence()},
        "description": {"type": "string", "nullable": True, "description": text.sentence()},
        "state": {"type": "string", "enum": states, "description": text.paragraph(1, 2)},
        "created_at": {"type": "string", "format": "date-time", "readOnly": True},
        "updated_at": {"type": "string", "format": "date-time", "readOnly": True},
        "owner": _ref("simple-user" if rng.random() < 0.6 else "nullable-simple-user"),
    }
    for name in rng.sample(_FIELDS, rng.randint(16, 48)):
        res.fields[name] = properties[name] = _field(name, text, rng)
    for other in rng.sample(all_res, min(len(all_res), rng.randint(1, 3))):
        key = other.noun.replace("-", "_")
        if key not in properties:
            target = f"nullable-simple-{other.name}" if other.nullable_simple else f"simple-{other.name}"
            properties[key] = _ref(target)
    if rng.random() < 0.35:  # Stripe's expandable fields: an id, or the whole object when expanded
        for other in rng.sample(all_res, min(len(all_res), rng.randint(1, 2))):
            properties[f"{other.noun.replace('-', '_')}_object"] = {
                "description": f"ID of the {other.noun.replace('-', ' ')}, or the object when expanded. "
                + text.sentence(),
                "anyOf": [{"type": "string", "maxLength": 5000}, _ref(other.name)],
            }
    if rng.random() < 0.5:
        properties["labels"] = {"type": "array", "items": _ref("label")}
    if rng.random() < 0.5:
        properties["reactions"] = _ref("reaction-rollup")
    if rng.random() < 0.3:
        properties["milestone"] = _ref("nullable-milestone")
    settings = f"{res.name}-settings"
    named[settings] = _nested(rng.randint(2, 5), text, rng, res.noun, named, settings)
    res.fields["settings"] = properties["settings"] = _ref(settings)
    res.fields["metadata"] = properties["metadata"] = {
        "type": "object",
        "additionalProperties": {"type": "string", "maxLength": 500},
        "description": "Set of key-value pairs that you can attach to an object. " + text.sentence(),
    }
    required = ["id", "node_id", "url", "created_at", "state", *rng.sample(sorted(res.fields), 3)]
    schema = {"title": res.name.replace("-", " ").title(), "description": text.paragraph(1, 3), "type": "object"}
    if rng.random() < 0.15:  # GitHub composes some schemas from a shared base
        return {**schema, "allOf": [_ref("base-object"), {"type": "object", "properties": properties}]}
    return {**schema, "properties": properties, "required": required}


def _simple_schema(res: _Resource, text: _Text) -> dict[str, Any]:
    return {
        "title": f"Simple {res.name.replace('-', ' ')}",
        "description": f"A {res.noun.replace('-', ' ')}, without its details. {text.sentence()}",
        "type": "object",
        "properties": {
            "id": {"type": "integer", "example": 1},
            "node_id": {"type": "string"},
            "url": {"type": "string", "format": "uri"},
            "name": {"type": "string"},
            "html_url": {"type": "string", "format": "uri"},
            "owner": _ref("simple-user"),
        },
        "required": ["id", "node_id", "url", "name"],
    }


def _shared_schemas(resources: list[_Resource], text: _Text, rng: random.Random) -> dict[str, Any]:
    user_fields = ("login", "id", "node_id", "avatar_url", "gravatar_id", "url", "html_url", "followers_url")
    user_fields += ("following_url", "gists_url", "starred_url", "subscriptions_url", "organizations_url")
    user_fields += ("repos_url", "events_url", "received_events_url", "type", "site_admin", "name", "email")
    simple_user = {
        "title": "Simple User",
        "description": "A GitHub user. " + text.sentence(),
        "type": "object",
        "properties": {
            name: {"type": "integer"} if name == "id" else {"type": "boolean"} if name == "site_admin" else {
                "type": "string", **({"format": "uri"} if name.endswith("url") else {})
            }
            for name in user_fields
        },
        "required": ["login", "id", "node_id", "avatar_url", "url", "type", "site_admin"],
    }  # fmt: skip
    events = [f"{r.name}.{action}" for r in resources for action in ("created", "updated", "deleted", "archived")]
    shared: dict[str, Any] = {
        "simple-user": simple_user,
        "nullable-simple-user": {**simple_user, "nullable": True},
        "base-object": {
            "type": "object",
            "properties": {
                "id": {"type": "integer", "format": "int64", "readOnly": True},
                "object": {"type": "string", "description": "String representing the object's type."},
                "livemode": {"type": "boolean"},
                "created": {"type": "integer", "description": "Time at which the object was created (Unix epoch)."},
            },
            "required": ["id", "object", "livemode", "created"],
        },
        "country-code": {"type": "string", "enum": _COUNTRIES, "description": "ISO 3166-1 alpha-2 country code."},
        "currency-code": {"type": "string", "enum": _CURRENCIES, "description": "ISO 4217 currency, lowercase."},
        "timezone-code": {"type": "string", "enum": _TIMEZONES, "description": "IANA time zone name."},
        "locale-code": {"type": "string", "enum": _LOCALES, "description": "IETF language tag."},
        "event-type": {"type": "string", "enum": events, "description": "A webhook event type."},
        "label": {
            "type": "object",
            "description": "Color-coded labels help you categorize and filter your issues. " + text.sentence(),
            "properties": {
                "id": {"type": "integer", "format": "int64"},
                "name": {"type": "string", "maxLength": 50},
                "color": {"type": "string", "pattern": _PATTERNS["color"]},
                "description": {"type": "string", "nullable": True},
                "default": {"type": "boolean"},
            },
            "required": ["id", "name", "color"],
        },
        "nullable-milestone": {
            "type": "object",
            "nullable": True,
            "properties": {
                "id": {"type": "integer"},
                "title": {"type": "string"},
                "state": {"type": "string", "enum": ["open", "closed"]},
                "creator": _ref("nullable-simple-user"),
                "due_on": {"type": "string", "format": "date-time", "nullable": True},
            },
            "required": ["id", "title", "state"],
        },
        "reaction-rollup": {
            "type": "object",
            "properties": {
                k: {"type": "integer", "minimum": 0} for k in ("total_count", "+1", "-1", "laugh", "hooray", "heart")
            },
        },
        "team-simple": {
            "type": "object",
            "description": "Groups of organization members. " + text.sentence(),
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "slug": {"type": "string", "pattern": _PATTERNS["slug"]},
                "parent": _ref("team-simple"),  # recursion
                "members": {"type": "array", "items": _ref("simple-user")},
            },
        },
        "basic-error": {
            "type": "object",
            "properties": {k: {"type": "string"} for k in ("message", "documentation_url", "url", "status")},
        },
        "validation-error": {
            "type": "object",
            "required": ["message", "documentation_url"],
            "properties": {
                "message": {"type": "string"},
                "documentation_url": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["code"],
                        "properties": {
                            "resource": {"type": "string"},
                            "field": {"type": "string"},
                            "message": {"type": "string"},
                            "code": {"type": "string"},
                            "index": {"type": "integer"},
                            "value": {"oneOf": [{"type": "string", "nullable": True}, {"type": "integer"}]},
                        },
                    },
                },
            },
        },
    }
    # A timeline is an anyOf of event schemas, each naming the resources it is about.
    event_schemas = {}
    for n in range(20):
        about = rng.sample(resources, min(len(resources), 2))
        event_schemas[f"timeline-event-{n}"] = {
            "type": "object",
            "description": text.sentence(),
            "properties": {
                "event": {"type": "string", "enum": [f"event_{n}"]},
                "actor": _ref("simple-user"),
                "created_at": {"type": "string", "format": "date-time"},
                **{r.noun.replace("-", "_"): _ref(f"simple-{r.name}") for r in about},
            },
            "required": ["event", "actor", "created_at"],
        }
    shared.update(event_schemas)
    shared["timeline-item"] = {"anyOf": [_ref(name) for name in event_schemas]}
    return shared


def _example(res: _Resource, full: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A response example as real specs have them (a filled-in object)."""
    value: dict[str, Any] = {}
    for name, schema in (full.get("properties") or {}).items():
        kind = schema.get("type")
        if "enum" in schema:
            value[name] = schema["enum"][0]
        elif kind == "integer":
            value[name] = rng.randint(1, 10**6)
        elif kind == "boolean":
            value[name] = rng.random() < 0.5
        elif kind == "string":
            value[name] = f"https://api.example.com/{res.tag}/{res.plural}/{name}/{rng.randint(1, 10**6)}"
        elif "$ref" in schema:
            value[name] = {"id": rng.randint(1, 10**6), "login": "octocat", "url": "https://api.example.com/u/1"}
    return {"summary": f"Example {res.noun.replace('-', ' ')}", "value": value}


def _operation_id(tag: str, verb: str, res: _Resource, rng: random.Random) -> str:
    tail = rng.choice(("", "", "", "-for-repo", "-for-org", "-for-authenticated-user"))
    if rng.random() < 0.08:  # GitHub's longest operationIds pass 64 characters as snake_case
        tail = "-for-selected-repositories-in-an-organization-enterprise-runner-group"
    return f"{tag}/{verb}-{res.noun}{'s' if verb == 'list' else ''}{tail}"


def _json_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _request_schema(res: _Resource, text: _Text, rng: random.Random, create: bool) -> dict[str, Any]:
    names = sorted(res.fields)
    chosen = rng.sample(names, max(1, len(names) * 2 // 5))
    properties = {name: res.fields[name] for name in chosen}
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if create:
        schema["required"] = sorted(rng.sample(chosen, min(2, len(chosen))))
    if rng.random() < 0.1:  # "give one of these": GitHub's oneOf request bodies
        first, *rest = chosen
        schema = {
            "oneOf": [
                {**schema, "required": [first]},
                {"type": "object", "properties": {k: properties[k] for k in rest or [first]}},
            ]
        }
    return schema


def _responses(ok: str, schema: dict[str, Any] | None, errors: tuple[str, ...], example: str = "") -> dict[str, Any]:
    response: dict[str, Any] = {"description": "Response"}
    if schema is not None:
        media: dict[str, Any] = {"schema": schema}
        if example:
            media["examples"] = {"default": {"$ref": f"#/components/examples/{example}"}}
        response["content"] = {"application/json": media}
    out = {ok: response}
    out.update({code: {"$ref": f"#/components/responses/{name}"} for code, name in _ERRORS.items() if name in errors})
    return out


_ERRORS = {"304": "not_modified", "403": "forbidden", "404": "not_found", "422": "validation_failed"}
_SCOPES = ("/repos/{owner}/{repo}", "/orgs/{org}", "/user", "/v1", "/enterprises/{enterprise}")


def _operations(res: _Resource, scope: str, text: _Text, rng: random.Random) -> dict[str, Any]:
    tag, name = res.tag, res.name
    base = f"{scope}/{tag}/{res.plural}"
    item = f"{base}/{{{res.id_param}}}"
    scope_params = [
        {"$ref": f"#/components/parameters/{p}"} for p in ("owner", "repo", "org", "enterprise") if p in scope
    ]
    id_param = {"$ref": f"#/components/parameters/{res.id_param.replace('_', '-')}"}
    common = {"tags": [tag], "x-github": {"githubCloudOnly": False, "enabledForGitHubApps": True, "category": tag}}

    def op(verb: str, summary: str, **rest: Any) -> dict[str, Any]:
        return {
            "summary": summary,
            "description": text.operation(verb, res.noun, tag),
            "operationId": _operation_id(tag, verb, res, rng),
            **common,
            "externalDocs": {"description": "API method documentation", "url": f"https://docs.example.com/{tag}"},
            **rest,
        }

    filters = [
        {
            "name": field,
            "in": "query",
            "description": text.paragraph(1, 2),
            "schema": res.fields[field] if "$ref" not in res.fields[field] else {"type": "string"},
        }
        for field in rng.sample(sorted(res.fields), min(3, len(res.fields)))
        if field not in ("settings", "metadata") and res.fields[field].get("type") in ("string", "integer", "boolean")
    ]
    listed = _ref(f"simple-{name}") if rng.random() < 0.5 else _ref(name)
    list_schema: dict[str, Any] = {"type": "array", "items": listed}
    if rng.random() < 0.4:
        list_schema = {
            "type": "object",
            "required": ["total_count", res.plural.replace("-", "_")],
            "properties": {"total_count": {"type": "integer"}, res.plural.replace("-", "_"): list_schema},
        }
    paths: dict[str, Any] = {
        base: {
            "get": op(
                "list",
                f"List {res.noun.replace('-', ' ')}s",
                parameters=[
                    *scope_params,
                    *({"$ref": f"#/components/parameters/{p}"} for p in ("per-page", "page", "direction", "since")),
                    *filters,
                ],
                responses=_responses("200", list_schema, ("not_modified", "forbidden", "not_found"), f"{name}-items"),
            ),
            "post": op(
                "create",
                f"Create a {res.noun.replace('-', ' ')}",
                parameters=scope_params,
                requestBody=_json_body(_request_schema(res, text, rng, create=True)),
                responses=_responses("201", _ref(name), ("forbidden", "not_found", "validation_failed"), name),
            ),
        },
        item: {
            "parameters": [*scope_params, id_param],
            "get": op(
                "get",
                f"Get a {res.noun.replace('-', ' ')}",
                responses=_responses("200", _ref(name), ("not_modified", "forbidden", "not_found"), name),
            ),
            "patch": op(
                "update",
                f"Update a {res.noun.replace('-', ' ')}",
                requestBody=_json_body(_request_schema(res, text, rng, create=False)),
                responses=_responses("200", _ref(name), ("forbidden", "not_found", "validation_failed"), name),
            ),
            "delete": op(
                "delete",
                f"Delete a {res.noun.replace('-', ' ')}",
                responses=_responses("204", None, ("forbidden", "not_found")),
            ),
        },
    }
    return paths


def _extra_operation(res: _Resource, scope: str, text: _Text, rng: random.Random) -> tuple[str, dict[str, Any]]:
    """An action or a timeline on one resource: the operations beyond CRUD that real APIs have."""
    action = rng.choice(_ACTIONS)
    path = f"{scope}/{res.tag}/{res.plural}/{{{res.id_param}}}/{action}"
    scope_params = [
        {"$ref": f"#/components/parameters/{p}"} for p in ("owner", "repo", "org", "enterprise") if p in scope
    ]
    params = [*scope_params, {"$ref": f"#/components/parameters/{res.id_param.replace('_', '-')}"}]
    common = {"tags": [res.tag], "description": text.operation(action, res.noun, res.tag)}
    if rng.random() < 0.3:
        spec = {
            "summary": f"List timeline events for a {res.noun.replace('-', ' ')}",
            "operationId": _operation_id(res.tag, f"list-timeline-events-{action}", res, rng),
            **common,
            "parameters": [*params, {"$ref": "#/components/parameters/per-page"}],
            "responses": _responses("200", {"type": "array", "items": _ref("timeline-item")}, ("not_found",)),
        }
        return path, {"get": spec}
    form = rng.random() < 0.3  # Stripe sends form-encoded bodies with nested objects
    body_schema = {
        "type": "object",
        "properties": {
            "reason": {"type": "string", "maxLength": 500, "description": text.sentence()},
            "expand": {"type": "array", "items": {"type": "string", "maxLength": 5000}},
            "options": {"anyOf": [_nested(3, text, rng, res.noun), {"type": "string", "enum": [""]}]},
        },
    }
    media = "application/x-www-form-urlencoded" if form else "application/json"
    spec = {
        "summary": f"{action.capitalize()} a {res.noun.replace('-', ' ')}",
        "operationId": _operation_id(res.tag, action, res, rng),
        **common,
        "parameters": params,
        "requestBody": {"content": {media: {"schema": body_schema}}},
        "responses": _responses("202", _ref(res.name), ("forbidden", "not_found", "validation_failed")),
    }
    return path, {"post": spec}


def build(operations: int = DEFAULT_OPERATIONS, seed: int = _SEED) -> dict[str, Any]:
    """The spec as a mapping: ``operations`` operations (about 10.8 KB of JSON each)."""
    rng = random.Random(seed)
    text = _Text(rng)
    resources = _resources(operations, rng)
    for res in resources:
        res.nullable_simple = rng.random() < 0.4
    schemas = _shared_schemas(resources, text, rng)
    examples: dict[str, Any] = {}
    parameters: dict[str, Any] = {
        "per-page": {"name": "per_page", "in": "query", "description": text.paragraph(1, 2),
                     "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 30}},
        "page": {"name": "page", "in": "query", "description": text.sentence(),
                 "schema": {"type": "integer", "minimum": 1, "default": 1}},
        "direction": {"name": "direction", "in": "query", "schema": {"type": "string", "enum": ["asc", "desc"]}},
        "since": {"name": "since", "in": "query", "description": text.sentence(),
                  "schema": {"type": "string", "format": "date-time"}},
        **{p: {"name": p, "in": "path", "required": True, "description": text.sentence(), "schema": {"type": "string"}}
           for p in ("owner", "repo", "org", "enterprise")},
    }  # fmt: skip
    for res in resources:
        schemas[res.name] = _full_schema(res, resources, text, rng, schemas)
        schemas[f"simple-{res.name}"] = _simple_schema(res, text)
        if res.nullable_simple:
            schemas[f"nullable-simple-{res.name}"] = {**schemas[f"simple-{res.name}"], "nullable": True}
        examples[res.name] = _example(res, schemas[res.name], rng)
        examples[f"{res.name}-items"] = {"value": [_example(res, schemas[res.name], rng)["value"] for _ in range(2)]}
        parameters[res.id_param.replace("_", "-")] = {
            "name": res.id_param,
            "in": "path",
            "required": True,
            "description": f"The unique identifier of the {res.noun.replace('-', ' ')}. {text.sentence()}",
            "schema": {"type": "integer"},
        }
    paths: dict[str, Any] = {}
    count = 0
    for res in resources:
        if count >= operations:
            break
        scope = _SCOPES[res.index % len(_SCOPES)]
        for path, item in _operations(res, scope, text, rng).items():
            paths[path] = item
            count += sum(1 for method in item if method != "parameters")
    while count < operations:
        res = rng.choice(resources)
        path, item = _extra_operation(res, _SCOPES[res.index % len(_SCOPES)], text, rng)
        if path not in paths:
            paths[path] = item
            count += 1
    error = {"$ref": "#/components/schemas/basic-error"}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Generated large public API",
            "version": "1.1.4",
            "description": "A generated spec the size and shape of the largest public APIs. " + text.paragraph(3, 5),
            "license": {"name": "MIT", "url": "https://spdx.org/licenses/MIT"},
        },
        "servers": [{"url": "https://api.example.com"}],
        "tags": [{"name": tag, "description": text.paragraph(1, 2)} for tag in _TAGS],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
            "parameters": parameters,
            "responses": {
                "not_found": {"description": "Resource not found", "content": {"application/json": {"schema": error}}},
                "forbidden": {"description": "Forbidden", "content": {"application/json": {"schema": error}}},
                "not_modified": {"description": "Not modified"},
                "validation_failed": {
                    "description": "Validation failed, or the endpoint has been spammed.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/validation-error"}}},
                },
            },
            "examples": examples,
        },
    }


def operations_of(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield path, method, operation


def write(path: pathlib.Path, operations: int = DEFAULT_OPERATIONS) -> pathlib.Path:
    """The spec as JSON, indented like the published big specs."""
    path.write_text(json.dumps(build(operations), indent=2), encoding="utf-8")
    return path
