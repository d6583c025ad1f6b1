"""The checks of a configuration that a schema cannot state: relations between sections (an
`enhance` entry names a configured query set and enhancers), sweeps and calibration grids,
robust keys that degrade at least one image per batch, image sizes every network and wavelet
level fits. `cbir.config.validate_config` runs them on a config with every default filled.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema

from cbir.kinds import KIND_OF, KindError, kind_of

# smallNORB's training instances per category (cbir.norb.TRAIN_INSTANCES; a test keeps them equal:
# the base layer imports no file format).
NORB_TRAINING_OBJECTS = 5
Dropped = dict[str, list[str]]  # section -> the names an overlay set to null


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


def severity_specs(sweep: dict) -> list[list[dict]]:
    """The degradation list of every severity of a sweep (config `sweeps.<name>`), weakest
    first: the sweep's degradation with its `vary` parameter set to the severity's value, or
    one spec per value when the severity is a list (a mixture, one drawn per image)."""
    out = []
    for value in sweep["severities"]:
        values = value if isinstance(value, list) else [value]
        out.append([{**sweep["degradation"], sweep["vary"]: v} for v in values])
    return out


def _degradation_lists(config: dict):
    """(dotted key, degradation list) of every query set, enhancer, key set and sweep severity."""
    for name, specs in config["queries"].items():
        yield f"queries.{name}", specs
    for name, enhancer in config["enhancers"].items():
        if "degradations" in enhancer:
            yield f"enhancers.{name}.degradations", enhancer["degradations"]
    for name, keys in config["keys"].items():
        yield f"keys.{name}.degradations", keys["degradations"]
    for name, sweep in config["sweeps"].items():
        for i, specs in enumerate(severity_specs(sweep)):
            yield f"sweeps.{name}.severities.{i}", specs


def dropped_note(dropped: Dropped | None, section: str, names=None) -> str:
    """The note ' (queries.clean is null: dropped)' when an overlay dropped `names` (default: every
    dropped name) of `section`, so that an error about a missing name says where it went; else ''."""
    gone = [n for n in (dropped or {}).get(section, []) if names is None or n in names]
    if not gone:
        return ""
    listed = ", ".join(f"{section}.{name}" for name in gone)
    return f" ({listed} {'is' if len(gone) == 1 else 'are'} null: dropped)"


def _no_enhancer(config: dict, name: str, dropped: Dropped | None) -> str:
    """Why `name` is not an enhancer: dropped by an overlay, or not among those configured."""
    known = ", ".join(sorted(config["enhancers"])) or "none configured"
    return f"no enhancer named {name!r} in 'enhancers'" + (dropped_note(dropped, "enhancers", [name]) or f" ({known})")


def _mean(value) -> float:
    """A severity's position in the order: its value, or a mixture's mean value."""
    return sum(value) / len(value) if isinstance(value, list) else value


def _degradation_validator(validator: jsonschema.protocols.Validator) -> jsonschema.protocols.Validator:
    """The schema's validator of one degradation spec (a grid or severity value checked in place)."""
    return validator.evolve(schema={"$ref": "#/$defs/degradation", "$defs": validator.schema["$defs"]})


def _check_sweeps(config: dict, validator: jsonschema.protocols.Validator, dropped: Dropped | None = None) -> None:
    """Each sweep varies a numeric parameter of its degradation to valid, strictly increasing
    values, names known enhancers, and all sweeps have as many severities."""
    sweeps = config["sweeps"]
    if not sweeps:
        return
    if not any(not specs for specs in config["queries"].values()):
        raise ConfigError(
            "config key 'sweeps': the robustness curves need a clean query set (an empty list in 'queries')"
            + dropped_note(dropped, "queries")
        )
    degradation = _degradation_validator(validator)
    first = next(iter(sweeps))
    for name, sweep in sweeps.items():
        key = f"sweeps.{name}"
        params = [p for p, v in sweep["degradation"].items() if p != "name" and not isinstance(v, bool)]
        if sweep["vary"] not in params:
            raise ConfigError(
                f"config key '{key}.vary': {sweep['vary']!r} is not a numeric parameter of "
                f"{sweep['degradation']['name']}; expected one of {', '.join(params)}"
            )
        if len(sweep["severities"]) != len(sweeps[first]["severities"]):
            raise ConfigError(
                f"config key '{key}.severities': {len(sweep['severities'])} severities, but sweeps.{first} has "
                f"{len(sweeps[first]['severities'])}; every sweep needs the same number"
            )
        for i, specs in enumerate(severity_specs(sweep)):
            for spec in specs:
                error = jsonschema.exceptions.best_match(degradation.iter_errors(spec))
                if error is not None:
                    raise ConfigError(
                        f"config key '{key}.severities.{i}': {sweep['vary']} = {spec[sweep['vary']]!r}: {error.message}"
                    )
        # Every numeric parameter degrades more as it grows; a mixture sits at its mean value (the
        # default lowres sweep [1, [1, 1, 2], [1, 2], 2, [2, 3]] is 1, 1.33, 1.5, 2, 2.5).
        means = [_mean(value) for value in sweep["severities"]]
        if any(b <= a for a, b in zip(means, means[1:], strict=False)):
            raise ConfigError(
                f"config key '{key}.severities': must be strictly increasing (weakest first; a list by its mean "
                f"value), got {sweep['severities']}"
            )
        for enhancer in sweep["enhancers"]:
            if enhancer not in config["enhancers"]:
                raise ConfigError(f"config key '{key}.enhancers': {_no_enhancer(config, enhancer, dropped)}")


def _check_calibration(config: dict, validator: jsonschema.protocols.Validator, dropped: Dropped | None = None) -> None:
    """Each calibrated set is a degraded query set (with a clean set to drop from); a set that
    varies names its degradations and an increasing grid of valid values, one that does not has
    no grid."""
    from cbir.calibration import CalibrationError, grid_specs

    degradation = _degradation_validator(validator)
    has_clean = any(not specs for specs in config["queries"].values())
    for name, spec in config["calibration"].items():
        key = f"calibration.{name}"
        if not config["queries"].get(name):
            raise ConfigError(
                f"config key '{key}': no degraded query set named {name!r} in 'queries'"
                + dropped_note(dropped, "queries", [name])
            )
        if not has_clean:
            raise ConfigError(
                f"config key '{key}': a drop needs a clean query set (an empty list in 'queries')"
                + dropped_note(dropped, "queries")
            )
        values = spec["values"]
        if not spec["vary"]:
            if values:
                raise ConfigError(f"config key '{key}.values': a grid without 'vary' (which parameters it sets)")
            continue
        if len(values) < 2 or any(b <= a for a, b in zip(values, values[1:], strict=False)):
            raise ConfigError(f"config key '{key}.values': need at least two strictly increasing values, got {values}")
        for value in values:
            try:
                specs = grid_specs(config["queries"][name], spec["vary"], value, where=key)
            except CalibrationError as error:
                raise ConfigError(str(error)) from None
            for degradation_spec in specs:
                error = jsonschema.exceptions.best_match(degradation.iter_errors(degradation_spec))
                if error is not None:
                    raise ConfigError(f"config key '{key}.values': {value!r}: {error.message}")


AUTOENCODERS = ("autoencoder", "reference_autoencoder")


def _check_keys(config: dict) -> None:
    """Each robust key set degrades at least one image of every training batch: its classifier
    trains with the recipe of `classifier`, batch size included (round as the trainer rounds)."""
    batch = config["classifier"]["batch_size"]
    for name, keys in config["keys"].items():
        key = f"keys.{name}.share"
        share, consistency = keys["share"], keys["consistency"]
        if share == 0 and consistency > 0:
            raise ConfigError(
                f"config key '{key}': 0 degrades no image of a batch, but consistency {consistency} compares "
                "degraded images with their clean twins; set a share above 0 (or drop the key set with "
                f"keys: {{{name}: null}})"
            )
        if share == 0:
            raise ConfigError(
                f"config key '{key}': 0 degrades no image of a batch, so these keys would be the standard keys "
                f"trained again under another name; set a share above 0 (or drop the key set with keys: {{{name}: null}})"
            )
        if round(share * batch) == 0:
            raise ConfigError(
                f"config key '{key}': round({share} x classifier.batch_size {batch}) = 0: no image of a batch "
                f"would be degraded, so these keys would be the standard keys under another name; a share above "
                f"0.5 / {batch} = {0.5 / batch:.4g} degrades at least one"
            )


def _check_mixtures(config: dict, dropped: Dropped | None) -> None:
    """Mixtures draw from configured query sets of one kind each, under names of their own;
    routed enhancers have a restorer to route to and stay out of the sweeps."""
    queries = config["queries"]
    for name, members in config["mixtures"].items():
        if name in queries:
            raise ConfigError(f"config key 'mixtures.{name}': a query set of that name is configured in 'queries'")
        for member in members:
            if member not in queries:
                raise ConfigError(
                    f"config key 'mixtures.{name}': no query set named {member!r} in 'queries'"
                    + dropped_note(dropped, "queries", [member])
                )
            try:
                kind_of(queries[member])
            except KindError as exc:
                raise ConfigError(f"config key 'mixtures.{name}': query set {member!r}: {exc}") from exc
    routers = [name for name, recipe in config["enhancers"].items() if "route" in recipe]
    for sweep, spec in config["sweeps"].items():
        for name in set(spec["enhancers"]) & set(routers):
            raise ConfigError(f"config key 'sweeps.{sweep}.enhancers': {name!r} routes by kind; sweeps take no router")
    if any(config["enhancers"][name]["route"] == "detector" for name in routers):
        used = [s for specs in config["queries"].values() for s in specs]
        used += [{"name": sweep["degradation"]["name"]} for sweep in config["sweeps"].values()]
        missing = sorted({"noise", "blur", "lowres"} - {KIND_OF[s["name"]] for s in used})
        if missing:
            raise ConfigError(
                f"config key 'enhancers.{routers[0]}': the detector it routes by learns every kind of degradation "
                f"from the query sets and sweeps, but none of them is of the kind(s) {missing}"
            )
    in_enhance = {name for names in config["enhance"].values() for name in names}
    targets = [
        next((n for n in names if "route" not in config["enhancers"].get(n, {})), None)
        for query, names in config["enhance"].items()
        if config["queries"].get(query)
    ]
    for name in sorted(set(routers) & in_enhance):
        if not any(targets):
            raise ConfigError(
                f"config key 'enhancers.{name}': it routes each query to its kind's restorer, but no degraded "
                "query set in 'enhance' has a restorer other than a router"
            )


def _check_dataset(dataset: dict) -> None:
    """The folder source's files exist (before any job), smallNORB's sizes fit its 96-px images,
    and colour comes from a folder only (smallNORB is grey)."""
    if dataset["channels"] != 1 and dataset["source"] != "folder":
        raise ConfigError(
            f"config key 'dataset.channels': 3 (colour) needs dataset.source folder; {dataset['source']} "
            "images are grey (smallNORB's cameras record luminance)"
        )
    if dataset["source"] != "folder":
        if dataset["image_size"] > 96:
            raise ConfigError(
                f"config key 'dataset.image_size': {dataset['image_size']} exceeds smallNORB's 96-px images "
                f"(source {dataset['source']})"
            )
        return
    folder = dataset["folder"]
    if not Path(folder["path"]).is_dir():
        raise ConfigError(f"config key 'dataset.folder.path': {folder['path']} is not a folder")
    if folder["manifest"] is not None and not Path(folder["manifest"]).is_file():
        raise ConfigError(f"config key 'dataset.folder.manifest': {folder['manifest']} is not a file")


def semantic_checks(config: dict, validator: jsonschema.protocols.Validator, dropped: Dropped | None = None) -> None:
    """What a schema cannot state: relations between keys. `dropped`: the names an overlay set to
    null, named in the errors about what still refers to them."""
    ks, topk = config["retrieval"]["ks"], config["retrieval"]["topk"]
    if max(ks) > topk:
        raise ConfigError(f"config key 'retrieval.ks': k = {max(ks)} exceeds retrieval.topk = {topk}")
    for query, names in config["enhance"].items():
        if query in config["mixtures"]:
            continue
        if query not in config["queries"]:
            raise ConfigError(
                f"config key 'enhance.{query}': no query set named {query!r} in 'queries'"
                + dropped_note(dropped, "queries", [query])
            )
        if not config["queries"][query]:
            raise ConfigError(f"config key 'enhance.{query}': the query set is clean; there is nothing to enhance")
        for name in names:
            if name not in config["enhancers"]:
                raise ConfigError(f"config key 'enhance.{query}': {_no_enhancer(config, name, dropped)}")
    if config["enhance"] and not any(not specs for specs in config["queries"].values()):
        raise ConfigError(
            "config key 'queries': restoring query sets needs a clean query set (an empty list) to measure "
            "the gap a restorer closes" + dropped_note(dropped, "queries")
        )
    _check_keys(config)
    _check_sweeps(config, validator, dropped)
    _check_calibration(config, validator, dropped)
    check_tuning(config)
    _check_dataset(config["dataset"])
    _check_mixtures(config, dropped)
    held = config["validation"]["instances_per_class"]
    if config["dataset"]["source"] in ("synthetic", "smallnorb") and held >= NORB_TRAINING_OBJECTS:
        raise ConfigError(
            f"config key 'validation.instances_per_class': {held} of the {NORB_TRAINING_OBJECTS} training instances "
            "per category leaves none to train on"
        )
    size = config["dataset"]["image_size"]
    # Every configured network is checked, used or not: a config that fails later is worse.
    for name, enhancer in config["enhancers"].items():
        key = f"enhancers.{name}"
        if "network" not in enhancer:
            continue
        if enhancer["network"] in AUTOENCODERS and size % 32:
            raise ConfigError(
                f"config key '{key}.network': the autoencoder needs an image size that is a "
                f"multiple of 32, but dataset.image_size is {size}"
            )
        if enhancer["network"] == "unet" and size % 2 ** (enhancer["scales"] - 1):
            raise ConfigError(
                f"config key '{key}.scales': a U-Net with {enhancer['scales']} scales needs an image size that is "
                f"a multiple of {2 ** (enhancer['scales'] - 1)}, but dataset.image_size is {size}"
            )
        if enhancer["loss"]["pixel"] + enhancer["loss"]["feature"] <= 0:
            raise ConfigError(f"config key '{key}.loss': the pixel and feature weights are both zero")
    for key, specs in _degradation_lists(config):
        for i, spec in enumerate(specs):
            if spec["name"] == "lowres" and size % 2 ** spec["level"]:
                raise ConfigError(
                    f"config key '{key}.{i}.level': level {spec['level']} halves the image {spec['level']} "
                    f"times, so dataset.image_size ({size}) must be a multiple of {2 ** spec['level']}"
                )


def check_tuning(config: dict) -> None:
    """Each classical enhancer's `auto` parameters and its `grid` name the same parameters: an
    auto without candidates cannot be tuned, and candidates for a fixed parameter would be
    silently ignored. Runs on a validated config (defaults filled)."""
    from cbir.tuning import auto_params

    for name, enhancer in config.get("enhancers", {}).items():
        if "method" not in enhancer:
            continue
        key = f"enhancers.{name}.grid"
        autos, grid = auto_params(enhancer), enhancer.get("grid", {})
        for param in autos:
            if param not in grid:
                raise ConfigError(f"config key '{key}': parameter '{param}' is auto but has no grid")
        for param in grid:
            if param not in autos:
                raise ConfigError(f"config key '{key}': grid names '{param}' but {param} is not auto")
