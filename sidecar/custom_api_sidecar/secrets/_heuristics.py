"""Does a string look like a secret someone pasted where a reference belongs?

A deliberately eager heuristic: a false alarm costs one edit to the config file, a
miss leaves a credential in version control. Canonical UUIDs are not flagged (they are
more often tenant or account ids than credentials).
"""

from __future__ import annotations

import math
import re
from collections import Counter

# Well-known credential shapes: Stripe, OpenAI/Anthropic, GitHub, Slack, AWS, Google,
# GitLab, npm, SendGrid, Shopify, Vault/OpenBao tokens, JWTs, PEM keys, auth schemes.
_KNOWN = re.compile(
    r"""^(?:
        (?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{8,}
      | sk-[A-Za-z0-9_-]{16,}
      | gh[pousr]_[A-Za-z0-9]{20,}
      | github_pat_[A-Za-z0-9_]{20,}
      | xox[abposr]-[A-Za-z0-9-]{8,}
      | (?:AKIA|ASIA)[A-Z0-9]{16}
      | AIza[A-Za-z0-9_-]{30,}
      | glpat-[A-Za-z0-9_-]{16,}
      | npm_[A-Za-z0-9]{30,}
      | SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}
      | shp(?:at|ss|ca|pa)_[A-Fa-f0-9]{16,}
      | (?:hvs|hvb|hvr|s|b)\.[A-Za-z0-9_-]{20,}
      | eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*
      | -----BEGIN[ A-Z]*PRIVATE\ KEY-----
      | (?:Bearer|Basic|Token)\ +\S{8,}
    )""",
    re.VERBOSE,
)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_HEX = re.compile(r"^[0-9a-fA-F]{32,}\Z")
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9_\-+/=.~]+\Z")


def looks_like_secret(value: str) -> bool:
    if not isinstance(value, str):
        return False
    value = value.strip()
    if _KNOWN.match(value):
        return True
    if len(value) < 20 or _UUID.match(value) or "://" in value or not _TOKEN_CHARS.match(value):
        return False
    if _HEX.match(value):
        return True
    return _random_looking(value)


def _random_looking(value: str) -> bool:
    size = len(value)
    lower = sum(c.islower() for c in value)
    upper = sum(c.isupper() for c in value)
    digits = sum(c.isdigit() for c in value)
    entropy = _entropy(value)
    # Random base62 has upper and lower case in similar measure; PascalCase names do not.
    if upper >= 0.2 * size and lower >= 0.2 * size and digits >= 2 and entropy >= 3.5:
        return True
    # Lower-case (or upper-case) plus digits, e.g. base36 keys: needs many digits and high entropy.
    single_case = not (lower and upper)
    return single_case and (lower + upper) >= 0.2 * size and digits >= 0.2 * size and entropy >= 4.0


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
