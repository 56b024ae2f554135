"""What changed between two configs, for the reload audit record: APIs added, removed and changed,
and, per API, every change to where it may connect (egress) and to the secret references it reads.
Never a secret value: references are their text, as written in the file."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ._auth_model import CustomHeaderAuth, OAuth2Auth, is_reference_text
from ._model import ApiConfig, Config


def secret_references(api: ApiConfig) -> list[tuple[str, str]]:
    """``(field, reference text)`` for every secret reference an API definition holds."""
    found: list[tuple[str, Any]] = []
    auth = api.authentication
    if isinstance(auth, CustomHeaderAuth):
        found += [(f"authentication.config.headers[{i}].value", h.value) for i, h in enumerate(auth.headers)]
    else:
        found += [(f"authentication.config.{f.name}", getattr(auth, f.name)) for f in dataclasses.fields(auth)]
    tls = api.connection.tls
    if tls is not None:
        found += [(f"connection.tls.{f.name}", getattr(tls, f.name)) for f in dataclasses.fields(tls)]
    return [(where, text) for where, text in found if isinstance(text, str) and is_reference_text(text)]


def egress_settings(api: ApiConfig) -> dict[str, Any]:
    """Everything that decides where an API's requests (and its token requests) may go."""
    connection = api.connection
    tls = connection.tls
    return {
        "base_urls": dict(connection.base_urls),
        "token_url": api.authentication.token_url if isinstance(api.authentication, OAuth2Auth) else None,
        "allow_http": connection.allow_http,
        "private_network": connection.private_network,
        "ip_allowlist": list(connection.ip_allowlist),
        "verify_ssl": connection.verify_ssl,
        "proxy": connection.proxy,
        "ca_bundle": tls.ca_bundle if tls else None,
        "url_allowlist": list(api.security.url_allowlist),
    }


@dataclass(frozen=True)
class ConfigChanges:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    # api -> setting -> [before, after]; an added API's settings have None before, a removed one's None after
    egress: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    # api -> {"added": [...], "removed": [...]} reference texts
    secret_references: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": list(self.changed),
        }

    def summary(self) -> str:
        """One line for the log: names only, no setting values beyond the egress opt-ins' names."""
        parts = [f"{what}: {', '.join(names)}" for what, names in self._lists() if names]
        # an added or removed API's settings are all new or gone: its name above says it
        changed = {api: settings for api, settings in self.egress.items() if api in self.changed}
        if changed:
            apis = [f"{api} ({', '.join(settings)})" for api, settings in changed.items()]
            parts.append(f"egress changed: {', '.join(apis)}")
        if self.secret_references:
            refs = []
            for api, change in self.secret_references.items():
                signed = [*(f"+{r}" for r in change["added"]), *(f"-{r}" for r in change["removed"])]
                refs.append(f"{api} ({' '.join(signed)})")
            parts.append(f"secret references changed: {', '.join(refs)}")
        return "; ".join(parts) or "no API changed"

    def _lists(self) -> list[tuple[str, tuple[str, ...]]]:
        return [("added", self.added), ("removed", self.removed), ("changed", self.changed)]


def config_changes(old: Config | None, new: Config) -> ConfigChanges:
    """``old`` None: the first load (every API is added)."""
    before = {api.name: api for api in old.apis} if old else {}
    after = {api.name: api for api in new.apis}
    egress: dict[str, dict[str, list[Any]]] = {}
    references: dict[str, dict[str, list[str]]] = {}
    for name in sorted(before.keys() | after.keys()):
        old_api, new_api = before.get(name), after.get(name)
        if old_api == new_api:
            continue
        old_egress = egress_settings(old_api) if old_api else {}
        new_egress = egress_settings(new_api) if new_api else {}
        diff = {
            key: [old_egress.get(key), new_egress.get(key)]
            for key in (old_egress.keys() | new_egress.keys())
            if old_egress.get(key) != new_egress.get(key)
        }
        if diff:
            egress[name] = dict(sorted(diff.items()))
        old_refs = {text for _, text in secret_references(old_api)} if old_api else set()
        new_refs = {text for _, text in secret_references(new_api)} if new_api else set()
        if old_refs != new_refs:
            references[name] = {"added": sorted(new_refs - old_refs), "removed": sorted(old_refs - new_refs)}
    return ConfigChanges(
        added=tuple(sorted(after.keys() - before.keys())),
        removed=tuple(sorted(before.keys() - after.keys())),
        changed=tuple(sorted(n for n in before.keys() & after.keys() if before[n] != after[n])),
        egress=egress,
        secret_references=references,
    )
