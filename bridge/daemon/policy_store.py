"""The access policy changed at run time (from the web page), kept in the state directory.

Layer: ``bridge.daemon`` (does file I/O). A policy set at run time is written atomically to
``policy.json`` in ``gateway.state_dir`` and, from then on, replaces the ``[policy]`` section
of the configuration file at every start, until the file is deleted. The document has the
form of that section (``{"default": ..., "rules": [{...}, ...]}``) and is checked by the same
rules as the configuration file: a stored policy that no longer passes them stops the start
with a :class:`ConfigError` rather than falling back to a wider policy.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bridge.core.errors import ConfigError
from bridge.core.policy_config import PolicyConfig
from bridge.daemon.config import parse_config
from bridge.daemon.state import write_atomic

log = logging.getLogger("ocfaj.state")

POLICY_FILE = "policy.json"
#: the keys of one rule a document lists (empty match keys are left out).
_RULE_KEYS = ("action", "side", "id", "name", "resource_type", "interface")


def parse_policy(document: object) -> PolicyConfig:
    """The policy of ``document`` (the ``[policy]`` section as JSON); raises
    :class:`ConfigError` naming the key that is wrong, as for the configuration file."""
    if not isinstance(document, Mapping):
        raise ConfigError("policy", "expected an object with 'default' and 'rules'")
    return parse_config({"policy": dict(document)}, env={}).policy


def policy_document(policy: PolicyConfig) -> dict[str, Any]:
    """``policy`` in the form :func:`parse_policy` reads."""
    rules = []
    for rule in policy.rules:
        fields = dataclasses.asdict(rule)
        rules.append({key: fields[key] for key in _RULE_KEYS
                      if key == "action" or fields[key] not in ("", "any")})
    return {"default": policy.default, "rules": rules}


def load_policy(state_dir: Path) -> PolicyConfig | None:
    """The stored policy, or None when none was stored."""
    path = state_dir / POLICY_FILE
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ConfigError("policy", f"cannot read the stored policy {path}: {err}") from err
    try:
        document = json.loads(text)
        policy = parse_policy(document)
    except (ValueError, ConfigError) as err:
        raise ConfigError("policy", f"the stored policy {path} is not valid ({err}): fix or "
                          "delete it to use the [policy] of the configuration file") from err
    log.info("access policy from %s (set from the web page; it replaces [policy] of the "
             "configuration file)", path)
    return policy


def save_policy(state_dir: Path, policy: PolicyConfig) -> Path:
    """Store ``policy`` atomically; returns the file written. Raises OSError."""
    path = state_dir / POLICY_FILE
    write_atomic(path, policy_document(policy), keep_backup=False)
    return path
