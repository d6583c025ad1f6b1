"""The run's configuration: every default applied and every check made, once, before any job.

`validate_config` is the only place that knows the schema (cbir/schemas/config.schema.yaml):
it rejects renamed keys with the new name, validates against the schema (errors name the key as
a dotted path, ``dataset.image_size``), fills every default the schema declares (nested
objects, absent optional sections, array items such as each degradation's parameters, if/then
branches), and then makes the checks a schema cannot state. Library code downstream takes
its settings as required arguments and never carries a default of its own.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from pathlib import Path

import jsonschema
import yaml

from cbir.config_checks import ConfigError, Dropped, check_tuning, dropped_note, semantic_checks, severity_specs

__all__ = ["ConfigError", "check_tuning", "config_digest", "load_schema", "severity_specs", "validate_config"]

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "config.schema.yaml"  # package data

# Keys renamed since earlier versions: old dotted path ("*" = any name) -> the new key.
RENAMED = {
    ("training",): "runtime",
    ("embedding",): "inference",
    ("retrieval", "metrics"): "retrieval.distances",
    ("enhancers", "*", "arch"): "enhancers.<name>.network",
}


# Sections whose entries an overlay config (--configfile, merged over the default) can drop by
# setting them to null: merging can add and change names, never remove one.
DROPPABLE = ("queries", "mixtures", "keys", "sweeps", "enhancers", "enhance", "calibration")


def _is_integer(checker, value) -> bool:
    # Stricter than JSON Schema: 32.0 is not an integer here (it would reach OpenCV and HDF5 as a float).
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(checker, value) -> bool:
    # NaN and infinities compare false with every bound, so they would pass `minimum` unnoticed.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many({"integer": _is_integer, "number": _is_number})
Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=_TYPES)


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
    if "propertyNames" in error.schema_path and isinstance(error.instance, str):
        where = f"{_key(error.absolute_path)}.{error.instance}".lstrip(".")
        if error.validator == "not":
            return f"config key '{where}': the name is reserved (the pipeline derives it itself)"
        if error.validator == "enum":
            return f"config key '{where}': not a file this key applies to; expected one of {', '.join(error.validator_value)}"
        return f"config key '{where}': bad name ({error.message})"
    if error.validator == "type" and isinstance(error.instance, float) and not math.isfinite(error.instance):
        return f"config key '{_key(error.absolute_path)}': {error.instance} is not a finite number"
    return f"config key '{_key(error.absolute_path)}': {error.message}"


def _renamed_keys(config: dict) -> list[str]:
    """Messages for every old key present, each naming its replacement."""
    found = []

    def walk(node, pattern, path):
        if not pattern:
            found.append(f"config key '{_key(path)}' was renamed: use '{RENAMED[tuple(full)]}'")
            return
        if not isinstance(node, dict):
            return
        names = list(node) if pattern[0] == "*" else [pattern[0]] if pattern[0] in node else []
        for name in names:
            walk(node[name], pattern[1:], [*path, name])

    for full in RENAMED:
        walk(config, list(full), [])
    return found


def _check(config: dict, validator: jsonschema.protocols.Validator) -> None:
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        lines = [_describe(jsonschema.exceptions.best_match([error])) for error in errors]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(dict.fromkeys(lines)))


class _Defaults:
    """Fills schema defaults into an instance, following $ref, allOf, if/then and items."""

    def __init__(self, schema: dict):
        self.root = schema
        self.validator = Validator(schema)

    def resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            path = schema["$ref"].removeprefix("#/").split("/")
            target = self.root
            for part in path:
                target = target[part]
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return schema

    def fill(self, instance, schema: dict) -> None:
        schema = self.resolve(schema)
        for sub in schema.get("allOf", []):
            sub = self.resolve(sub)
            if "if" in sub:
                branch = "then" if self.validator.evolve(schema=self._rooted(sub["if"])).is_valid(instance) else "else"
                if branch in sub:
                    self.fill(instance, sub[branch])
            else:
                self.fill(instance, sub)
        if isinstance(instance, dict):
            self._fill_object(instance, schema)
        elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
            for item in instance:
                self.fill(item, schema["items"])

    def _rooted(self, schema: dict) -> dict:
        return {**schema, "$defs": self.root.get("$defs", {})}

    def _fill_object(self, instance: dict, schema: dict) -> None:
        properties = schema.get("properties", {})
        for name, sub in properties.items():
            sub = self.resolve(sub)
            if name not in instance:
                if "default" in sub:
                    instance[name] = copy.deepcopy(sub["default"])
                elif sub.get("type") == "object" and "properties" in sub and not sub.get("required"):
                    instance[name] = {}  # an absent optional section: filled from its defaults
            if name in instance:
                self.fill(instance[name], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name in set(instance) - set(properties):
                self.fill(instance[name], extra)


def validate_config(config: dict, schema: dict | None = None) -> dict:
    """Return `config` with every default filled in, or raise ConfigError naming the bad key."""
    schema = schema or load_schema()
    renamed = _renamed_keys(config)
    renamed += [
        f"config key 'enhance.{query}': now a list of enhancer names, e.g. [{value}]"
        for query, value in (config.get("enhance") or {}).items()
        if isinstance(value, str)
    ]
    if renamed:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(renamed))
    dropped: Dropped = {}
    for section in DROPPABLE:  # `keys: {robust: null}` in an overlay config drops the robust keys
        if isinstance(config.get(section), dict):
            dropped[section] = [name for name, value in config[section].items() if value is None]
            config[section] = {name: value for name, value in config[section].items() if value is not None}
    if config.get("queries") == {} and dropped.get("queries"):
        raise ConfigError(
            f"config key 'queries': no query set is left{dropped_note(dropped, 'queries')}; at least one is needed"
        )
    validator = Validator(schema)
    _check(config, validator)
    _Defaults(schema).fill(config, schema)
    _check(config, validator)  # the filled defaults must satisfy the schema too
    semantic_checks(config, validator, dropped)
    return config


def config_digest(config: dict) -> str:
    """sha256 of a validated config's canonical JSON (sorted keys): equal configs, equal digests,
    whatever their YAML's order or comments."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
