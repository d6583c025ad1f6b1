"""Validate a run's configuration against the JSON schema before any job starts.

Errors name the offending key as a dotted path (``dataset.image_size``) so a user
knows which line of the YAML to fix. Defaults from the schema fill missing keys.
"""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    """One line naming the key; unknown keys are named themselves, with the allowed ones."""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - allowed)
        if unknown and allowed:
            prefix = _key(error.absolute_path) + "." if error.absolute_path else ""
            names = ", ".join(f"'{prefix}{name}'" for name in unknown)
            return f"config key {names}: unknown key; allowed here: {', '.join(sorted(allowed))}"
    return f"config key '{_key(error.absolute_path)}': {error.message}"


def _fill_defaults(config: dict, schema: dict) -> None:
    """Insert schema defaults for absent keys, recursing into objects that exist."""
    for name, sub in schema.get("properties", {}).items():
        if name not in config and "default" in sub:
            config[name] = copy.deepcopy(sub["default"])
        if isinstance(config.get(name), dict) and "properties" in sub:
            _fill_defaults(config[name], sub)


def _semantic_checks(config: dict) -> None:
    ks, topk = config["retrieval"]["ks"], config["retrieval"]["topk"]
    if max(ks) > topk:
        raise ConfigError(f"config key 'retrieval.ks': k = {max(ks)} exceeds retrieval.topk = {topk}")
    for query in config["enhance"]:
        if query not in config["queries"]:
            raise ConfigError(f"config key 'enhance.{query}': no query set named {query!r} in 'queries'")
        if not config["queries"][query]:
            raise ConfigError(f"config key 'enhance.{query}': the query set is clean; there is nothing to enhance")
    size = config["dataset"]["image_size"]
    autoencoders = {n for n, e in config["enhancers"].items() if e["arch"] == "autoencoder"}
    if size % 32 and autoencoders & set(config["enhance"].values()):
        raise ConfigError(
            f"config key 'dataset.image_size': {size} is not a multiple of 32, which the "
            f"autoencoder enhancers ({', '.join(sorted(autoencoders))}) need"
        )


def validate_config(config: dict, schema: dict | None = None) -> dict:
    """Return `config` with defaults filled in, or raise ConfigError naming the bad key."""
    schema = schema or load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        lines = []
        for error in errors:
            lines.append(_describe(jsonschema.exceptions.best_match([error])))
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(dict.fromkeys(lines)))
    _fill_defaults(config, schema)
    _semantic_checks(config)
    return config
