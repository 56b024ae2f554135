"""Config files in, the config model out: every problem collected, named by file, API and field.

The loader sits above ``egress`` and ``openapi`` (it uses them to check addresses and import
specs) and applies the operator's policy (``custom_api_sidecar.policy``); none of them imports it.
"""

from ._egress import may_reach_private
from ._loader import imported_entry_problems, load_config, parse_config

__all__ = ["imported_entry_problems", "load_config", "may_reach_private", "parse_config"]
