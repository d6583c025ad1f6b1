"""cbir.config: renamed keys, schema validation and every schema default applied once."""

from __future__ import annotations

import copy
import json
import re

import pytest
import yaml
from conftest import REPO

from cbir.config import ConfigError, load_schema, validate_config

MINIMAL = {
    "queries": {"clean": [], "noisy": [{"name": "gaussian"}, {"name": "speckle", "amount": 0.2}]},
    "enhancers": {
        name: {"network": "autoencoder", "degradations": [{"name": "motion_blur"}]}
        for name in ("denoiser", "deblurrer", "upscaler")
    },
}


def default_paths(schema: dict) -> dict[tuple, object]:
    """Dotted path -> default of every key under the top-level `properties` (objects recursed)."""
    out = {}

    def walk(node, path):
        for name, sub in node.get("properties", {}).items():
            if "default" in sub:
                out[(*path, name)] = sub["default"]
            if sub.get("type") == "object":
                walk(sub, (*path, name))

    walk(schema, ())
    return out


def test_every_default_reaches_a_minimal_config():
    schema = load_schema()
    config = validate_config(copy.deepcopy(MINIMAL))
    for path, default in default_paths(schema).items():
        if path[0] in MINIMAL:
            continue  # given, not defaulted
        node = config
        for part in path:
            node = node[part]
        assert node == default, path
    # Defaults behind $ref + allOf (the shared recipe) and in array items (if/then branches).
    recipe = schema["$defs"]["recipe"]["properties"]
    assert config["enhancers"]["upscaler"]["epochs"] == recipe["epochs"]["default"]
    assert config["classifier"]["lr_step"] == recipe["lr_step"]["default"]
    assert config["enhancers"]["denoiser"]["degradations"] == [
        {"name": "motion_blur", "sigma": 0.05, "T": 1.0, "zero_centre": False}
    ]
    assert config["queries"]["noisy"] == [{"name": "gaussian", "sigma": 0.1}, {"name": "speckle", "amount": 0.2}]


def test_defaults_never_override_given_values():
    config = copy.deepcopy(MINIMAL)
    config["retrieval"] = {"topk": 20}
    config["dataset"] = {"subset": {"cameras": [1]}}
    validate_config(config)
    assert config["retrieval"]["topk"] == 20 and config["retrieval"]["ks"] == [1, 5, 10]
    assert config["dataset"]["subset"] == {
        "cameras": [1],
        "lightings": [0, 1, 2, 3, 4, 5],
        "azimuth_step": 1,
        "elevation_step": 1,
    }


def test_shipped_configs_are_complete_after_validation():
    for name in ("config.yaml", "paper.yaml"):
        config = yaml.safe_load((REPO / "config" / name).read_text())
        if name == "paper.yaml":  # merged over the default config, as Snakemake does
            from snakemake.utils import update_config

            base = yaml.safe_load((REPO / "config/config.yaml").read_text())
            update_config(base, config)
            config = base
        validate_config(config)
        assert set(config) >= {"runtime", "inference", "degradation", "report"}


@pytest.mark.parametrize(
    ("old", "message"),
    [
        ({"training": {"device": "cpu"}}, "config key 'training' was renamed: use 'runtime'"),
        ({"embedding": {"batch_size": 8}}, "config key 'embedding' was renamed: use 'inference'"),
        ({"retrieval": {"metrics": ["l2"]}}, "config key 'retrieval.metrics' was renamed: use 'retrieval.distances'"),
    ],
)
def test_renamed_keys_name_the_new_key(old, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        validate_config({**copy.deepcopy(MINIMAL), **old})


def test_renamed_enhancer_arch_names_network():
    config = copy.deepcopy(MINIMAL)
    config["enhancers"]["deblurrer"]["arch"] = config["enhancers"]["deblurrer"].pop("network")
    with pytest.raises(
        ConfigError, match=r"'enhancers\.deblurrer\.arch' was renamed: use 'enhancers\.<name>\.network'"
    ):
        validate_config(config)


def test_bad_degradation_parameter_names_the_list_item():
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["queries"]["blurry"][0]["sigma"] = -0.5
    with pytest.raises(ConfigError, match=r"config key 'queries.blurry.0.sigma': -0.5 is less than the minimum of 0"):
        validate_config(config)


def test_missing_required_section_is_named():
    with pytest.raises(ConfigError, match="'queries' is a required property"):
        validate_config({"enhancers": {}})


def test_classical_enhancers_take_their_own_defaults():
    config = validate_config(
        {
            "queries": {"clean": [], "noisy": [{"name": "gaussian"}]},
            "enhancers": {"m": {"method": "median"}, "w": {"method": "wiener"}, "b": {"method": "bicubic"}},
            "enhance": {"noisy": ["m", "w", "b"]},
        }
    )
    assert config["enhancers"]["m"] == {"method": "median", "size": 3}
    assert set(config["enhancers"]["w"]) == {"method", "sigma", "T", "zero_centre", "nsr"}
    assert config["enhancers"]["b"] == {"method": "bicubic"}


@pytest.mark.parametrize(
    ("enhancers", "enhance", "message"),
    [
        ({"m": {"method": "median", "size": 4}}, {"noisy": ["m"]}, "'enhancers.m.size': 4 is not one of [3, 5, 7]"),
        ({"m": {"method": "median", "h": 3}}, {"noisy": ["m"]}, "'enhancers.m.h': unknown key"),
        ({"m": {"method": "sharpen"}}, {"noisy": ["m"]}, "'enhancers.m.method': 'sharpen' is not one of"),
        ({"n": {"network": "residual"}}, {"noisy": ["n"]}, "'degradations' is a required property"),
        (
            {"n": {"network": "unet", "scales": 4, "degradations": [{"name": "gaussian"}]}},
            {"noisy": ["n"]},
            "'enhancers.n.scales': a U-Net with 4 scales needs an image size that is a multiple of 8, but dataset.image_size is 36",
        ),
        (
            {"n": {"network": "residual", "loss": {"pixel": 0}, "degradations": [{"name": "gaussian"}]}},
            {"noisy": ["n"]},
            "'enhancers.n.loss': the pixel and feature weights are both zero",
        ),
        ({"m": {"method": "median"}}, {"noisy": ["m", "m"]}, "'enhance.noisy'"),
    ],
)
def test_bad_enhancers_are_named(enhancers, enhance, message):
    config = {
        "queries": {"clean": [], "noisy": [{"name": "gaussian"}]},
        "dataset": {"image_size": 36},
        "enhancers": enhancers,
        "enhance": enhance,
    }
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(config)


def test_restoring_needs_a_clean_query_set():
    config = {
        "queries": {"noisy": [{"name": "gaussian"}]},
        "enhancers": {"m": {"method": "median"}},
        "enhance": {"noisy": ["m"]},
    }
    with pytest.raises(ConfigError, match="needs a clean query set"):
        validate_config(config)


def _shipped() -> dict:
    return yaml.safe_load((REPO / "config/config.yaml").read_text())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["queries"].update(gallery=[]), "'queries.gallery': the name is reserved"),
        (lambda c: c["enhancers"].update(none={"method": "median"}), "'enhancers.none': the name is reserved"),
        (lambda c: c["queries"].update({"a__b": []}), "'queries.a__b': bad name"),
        (lambda c: c.update(run="."), "config key 'run': '.' does not match"),
        (lambda c: c.update(run=".."), "config key 'run': '..' does not match"),
        (lambda c: c.update(run="../x"), "config key 'run'"),
        (lambda c: c["dataset"].update(image_size=32.0), "'dataset.image_size': 32.0 is not of type 'integer'"),
        (lambda c: c.update(seed=2**70), "'seed': 1180591620717411303424 is greater than the maximum"),
        (lambda c: c["dataset"]["synthetic"].update(seed=-1), "'dataset.synthetic.seed': -1 is less than"),
        (
            lambda c: c["queries"]["blurry"][0].update(sigma=float("nan")),
            "'queries.blurry.0.sigma': nan is not a finite",
        ),
        (lambda c: c["retrieval"].update(chunk_size=float("inf")), "'retrieval.chunk_size': inf is not a finite"),
        # Degradation parameters: ranges live in the schema only.
        (
            lambda c: c["queries"]["noisy"][0].update(sigma=-0.1),
            "'queries.noisy.0.sigma': -0.1 is less than or equal",
        ),
        (lambda c: c["queries"]["noisy"][2].update(amount=1.5), "'queries.noisy.2.amount': 1.5 is greater than"),
        (lambda c: c["queries"]["blurry"][0].update(T=0), "'queries.blurry.0.T': 0 is less than or equal"),
        (lambda c: c["queries"]["lowres"][1].update(level=4), "'queries.lowres.1.level': 4 is not one of [1, 2, 3]"),
        (
            lambda c: c["dataset"]["smallnorb"].update(checksums={"smallnorb-typo.mat.gz": "md5:" + "0" * 32}),
            "'dataset.smallnorb.checksums.smallnorb-typo.mat.gz': not a file this key applies to",
        ),
        # Every configured enhancer is trained: an autoencoder must fit the size even if `enhance` names none.
        (
            lambda c: (
                c["dataset"].update(image_size=48),
                c.update(enhance={}),
                c["enhancers"]["denoiser"].update(network="autoencoder"),
            ),
            "'enhancers.denoiser.network': the autoencoder needs an image size that is a multiple of 32",
        ),
        (
            lambda c: (
                c["dataset"].update(image_size=18),
                c["enhancers"].update(
                    {n: {**e, "network": "srcnn"} for n, e in c["enhancers"].items() if "network" in e}
                ),
            ),
            "'queries.lowres.1.level': level 2 halves the image 2 times, so dataset.image_size (18) must be a multiple of 4",
        ),
    ],
)
def test_bad_values_are_named(edit, message):
    config = _shipped()
    edit(config)
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(config)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["keys"].update(standard=c["keys"]["robust"]), "'keys.standard': the name is reserved"),
        (
            lambda c: c["enhancers"].update(classifier_x={"method": "median"}),
            "'enhancers.classifier_x': the name is reserved",
        ),
        (lambda c: c["keys"]["robust"].update(share=1.5), "'keys.robust.share': 1.5 is greater than the maximum of 1"),
        (lambda c: c["keys"]["robust"].update(degradations=[]), "'keys.robust.degradations': [] should be non-empty"),
        (
            lambda c: c["sweeps"]["gaussian"].update(vary="amount"),
            "'sweeps.gaussian.vary': 'amount' is not a numeric parameter of gaussian",
        ),
        (
            lambda c: c["sweeps"]["motion_blur"].update(vary="zero_centre"),
            "'sweeps.motion_blur.vary': 'zero_centre' is not a numeric",
        ),
        (
            lambda c: c["sweeps"]["gaussian"]["severities"].__setitem__(4, 2.0),
            "'sweeps.gaussian.severities.4': sigma = 2.0: 2.0 is greater than the maximum of 1",
        ),
        (
            lambda c: c["sweeps"]["lowres"]["severities"].__setitem__(4, [2, 4]),
            "'sweeps.lowres.severities.4': level = 4: 4 is not one of [1, 2, 3]",
        ),
        (
            lambda c: c["sweeps"]["lowres"]["severities"].__setitem__(0, 1.5),
            "'sweeps.lowres.severities.0': level = 1.5: 1.5 is not of type 'integer'",
        ),
        (
            lambda c: c["sweeps"]["speckle"]["severities"].pop(),
            "'sweeps.speckle.severities': 4 severities, but sweeps.gaussian has 5",
        ),
        (
            lambda c: c["sweeps"]["gaussian"].update(enhancers=["foo"]),
            "'sweeps.gaussian.enhancers': no enhancer named 'foo'",
        ),
        (lambda c: c["sweeps"]["gaussian"].update(steps=3), "'sweeps.gaussian.steps': unknown key"),
        (lambda c: c["queries"].pop("clean"), "'sweeps': the robustness curves need a clean query set"),
        (
            lambda c: c["calibration"].update(foggy={"drop": 5}),
            "'calibration.foggy': no degraded query set named 'foggy'",
        ),
        (
            lambda c: c["calibration"]["blurry"].update(values=[0.1, 0.3, 0.2]),
            "'calibration.blurry.values': need at least two strictly increasing values",
        ),
        (
            lambda c: c["calibration"]["blurry"].update(values=[0.5, 1.5]),
            "'calibration.blurry.values': 1.5: 1.5 is greater than the maximum of 1",
        ),
        (
            lambda c: c["calibration"]["noisy"]["vary"].update(motion_blur="sigma"),
            "'calibration.noisy.vary': the query set has no degradation named motion_blur",
        ),
        (
            lambda c: c["calibration"]["lowres"].update(values=[1, 2]),
            "'calibration.lowres.values': a grid without 'vary'",
        ),
        (lambda c: c["calibration"]["blurry"].update(drop=0), "'calibration.blurry.drop': 0 is less than or equal"),
    ],
)
def test_bad_keys_and_sweeps_are_named(edit, message):
    config = _shipped()
    if "clean query set" in message:
        config["enhance"] = {}
    edit(config)
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(config)


def test_keys_and_sweeps_of_the_default_config():
    from cbir.config import severity_specs

    config = validate_config(_shipped())
    assert config["keys"]["robust"]["share"] == 0.5
    assert len(config["keys"]["robust"]["degradations"]) == 6
    lowres = severity_specs(config["sweeps"]["lowres"])
    assert lowres[1] == [{"name": "lowres", "level": 1}] * 2 + [{"name": "lowres", "level": 2}]
    blur = severity_specs(config["sweeps"]["motion_blur"])
    assert [s[0]["sigma"] for s in blur] == [0.02, 0.035, 0.05, 0.07, 0.1]
    assert all(s[0]["zero_centre"] is True and s[0]["T"] == 1.0 for s in blur)
    # absent sections: no extra key sets and no sweeps
    minimal = validate_config(copy.deepcopy(MINIMAL))
    assert minimal["keys"] == {} and minimal["sweeps"] == {}


def _unused_bad_values_are_named(edit, message):
    config = _shipped()
    edit(config)
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(config)


def test_paper_config_is_the_authors_recipe():
    """config/paper.yaml as the notebooks ran Table 1 (docs/design.md lists every difference)."""
    from snakemake.utils import update_config

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    update_config(config, yaml.safe_load((REPO / "config/paper.yaml").read_text()))
    validate_config(config)
    classifier = config["classifier"]
    assert (classifier["arch"], classifier["weights"], classifier["head"]) == ("resnet34", "imagenet", "mlp")
    assert classifier["label_smoothing"] == 0.1
    assert (classifier["epochs"], classifier["lr_step"], classifier["batch_size"]) == (200, 40, 64)
    assert classifier["augment"] | {} == {
        "hflip": True,
        "rotate_deg": 5.0,
        "translate_px": 4.8,
        "brightness": 0.01,
        "contrast": 0.2,
        "fill": "black",
    }
    assert config["queries"]["blurry"] == [{"name": "motion_blur", "sigma": 0.05, "T": 1.0, "zero_centre": True}]
    assert config["queries"]["blurry_eq9"][0] == {**config["queries"]["blurry"][0], "zero_centre": False}
    assert [s.get("sigma", s.get("amount")) for s in config["queries"]["noisy"]] == [0.1, 0.1, 0.1]
    # the robust keys and the Wiener filter's blur model follow the paper's strengths too
    assert config["keys"]["robust"]["degradations"] == [
        *config["queries"]["noisy"],
        *config["queries"]["blurry"],
        *config["queries"]["lowres"],
    ]
    assert config["enhancers"]["wiener"]["sigma"] == 0.05
    for name, network in (
        ("denoiser", "reference_autoencoder"),
        ("deblurrer", "reference_autoencoder"),
        ("upscaler", "srcnn"),
    ):
        enhancer = config["enhancers"][name]
        assert enhancer["network"] == network and enhancer["loss"] == {"pixel": 1.0, "feature": 0.0}
        assert (enhancer["epochs"], enhancer["lr_step"], enhancer["batch_size"]) == (200, 40, 64)
    assert config["enhancers"]["deblurrer"]["degradations"][0]["zero_centre"] is True
    # Table 1 shows each set's first enhancer: the paper's networks.
    assert [config["enhance"][q][0] for q in ("noisy", "blurry", "lowres")] == ["denoiser", "deblurrer", "upscaler"]


def test_default_remedies_train_on_the_calibrated_strengths():
    """The demo's query sets carry calibrated strengths; every restorer and the robust keys train on
    exactly the degradations of the sets they remedy (`calibration` names what was calibrated)."""
    config = validate_config(_shipped())
    queries, enhancers = config["queries"], config["enhancers"]
    assert set(config["calibration"]) == {"noisy", "blurry", "lowres"}
    assert queries["noisy"][0] == {"name": "gaussian", "sigma": 0.34}
    universal = [*queries["noisy"], *queries["blurry"], *queries["lowres"]]
    for query, names in config["enhance"].items():
        trained = [n for n in names if "network" in enhancers[n] and n != "universal"]
        assert all(enhancers[n]["degradations"] == queries[query] for n in trained), query
    assert enhancers["universal"]["degradations"] == universal  # every kind at the sets' strengths
    assert config["keys"]["robust"]["degradations"] == universal
    blur = queries["blurry"][0]
    assert {k: enhancers["wiener"][k] for k in ("sigma", "T", "zero_centre")} == {
        k: blur[k] for k in ("sigma", "T", "zero_centre")
    }
    assert queries["blurry_eq9"][0] == {**blur, "zero_centre": False}


def test_paper_restorers_overlay_trains_the_papers_networks_on_the_demos_sets():
    """config/paper_restorers.yaml: the networks of config/paper.yaml (pixel loss only), on exactly the
    degradations of the demo's sets, listed after each set's own restorer (Table 1 keeps it)."""
    from snakemake.utils import update_config

    config = _shipped()
    update_config(config, yaml.safe_load((REPO / "config/paper_restorers.yaml").read_text()))
    validate_config(config)
    paper = yaml.safe_load((REPO / "config/paper.yaml").read_text())["enhancers"]
    for query, own, theirs in [
        ("noisy", "denoiser", "denoiser"),
        ("blurry", "deblurrer", "deblurrer"),
        ("lowres", "upscaler", "upscaler"),
    ]:
        enhancer = config["enhancers"][f"paper_{theirs}"]
        assert enhancer["network"] == paper[theirs]["network"]
        assert enhancer["loss"] == {"pixel": 1.0, "feature": 0.0}
        assert enhancer["degradations"] == config["queries"][query]
        assert config["enhance"][query][:2] == [own, f"paper_{theirs}"]


def test_an_overlay_drops_key_sets_and_sweeps_with_null():
    from snakemake.utils import update_config

    config = _shipped()
    update_config(config, {"keys": {"robust": None}, "sweeps": {"lowres": None, "speckle": None}})
    config = validate_config(config)
    assert config["keys"] == {}
    assert set(config["sweeps"]) == {"gaussian", "salt_pepper", "motion_blur"}


# Bounds with reasons (the schema's descriptions): values that pass a plain "positive" check but
# overflow float32 or diverge.
@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c["queries"]["blurry"][0].update(T=1e39),
            "config key 'queries.blurry.0.T': 1e+39 is greater than the maximum of 100",
        ),
        (
            lambda c: c["keys"]["robust"]["degradations"][3].update(T=1e39),
            "config key 'keys.robust.degradations.3.T': 1e+39 is greater than the maximum of 100",
        ),
        (
            lambda c: c["enhancers"]["deblurrer"]["degradations"][0].update(T=1e39),
            "config key 'enhancers.deblurrer.degradations.0.T': 1e+39 is greater than the maximum of 100",
        ),
        (
            lambda c: c["sweeps"]["motion_blur"].update(vary="T", severities=[0.5, 1.0, 2.0, 4.0, 1e39]),
            "config key 'sweeps.motion_blur.severities.4': T = 1e+39: 1e+39 is greater than the maximum of 100",
        ),
        (
            lambda c: c["calibration"]["blurry"].update(vary={"motion_blur": "T"}, values=[1.0, 1e39]),
            "config key 'calibration.blurry.values': 1e+39: 1e+39 is greater than the maximum of 100",
        ),
        (
            lambda c: c["enhancers"]["wiener"].update(T=1e200),
            "config key 'enhancers.wiener.T': 1e+200 is greater than the maximum of 100",
        ),
        (
            lambda c: c["enhancers"]["wiener"].update(T="auto", grid={"nsr": [0.1], "T": [1.0, 1e200]}),
            "config key 'enhancers.wiener.grid.T.1': 1e+200 is greater than the maximum of 100",
        ),
        (
            lambda c: c["classifier"].update(lr=1e6),
            "config key 'classifier.lr': 1000000.0 is greater than the maximum of 1",
        ),
        (
            lambda c: c["enhancers"]["denoiser"].update(lr=1e6),
            "config key 'enhancers.denoiser.lr': 1000000.0 is greater than the maximum of 1",
        ),
    ],
)
def test_exposure_and_learning_rates_are_bounded(edit, message):
    config = _shipped()
    edit(config)
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(config)


def test_bounds_state_their_reasons():
    schema = load_schema()
    blur = next(b["then"] for b in schema["$defs"]["degradation"]["allOf"] if "motion_blur" in str(b["if"]))
    assert blur["properties"]["T"]["maximum"] == 100 and "float32" in blur["properties"]["T"]["description"]
    lr = schema["$defs"]["recipe"]["properties"]["lr"]
    assert lr["maximum"] == 1 and "converge" in lr["description"]


@pytest.mark.parametrize(
    ("robust", "batch_size", "message"),
    [
        (
            {"share": 0, "consistency": 0.5},
            64,
            "config key 'keys.robust.share': 0 degrades no image of a batch, but consistency 0.5 compares "
            "degraded images with their clean twins",
        ),
        (
            {"share": 0, "consistency": 0},
            64,
            "config key 'keys.robust.share': 0 degrades no image of a batch, so these keys would be the standard "
            "keys trained again under another name",
        ),
        (
            {"share": 0.001},
            64,
            "config key 'keys.robust.share': round(0.001 x classifier.batch_size 64) = 0: no image of a batch "
            "would be degraded",
        ),
        # Python's round (the trainer's) rounds half to even: 0.5 images is none
        ({"share": 0.125}, 4, "config key 'keys.robust.share': round(0.125 x classifier.batch_size 4) = 0"),
    ],
)
def test_robust_keys_must_degrade_an_image_of_every_batch(robust, batch_size, message):
    config = _shipped()
    config["keys"]["robust"].update(robust)
    config["classifier"]["batch_size"] = batch_size
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(config)


def test_robust_keys_with_one_degraded_image_per_batch_are_valid():
    config = _shipped()
    config["keys"]["robust"].update(share=0.01, consistency=1.0)
    config["classifier"]["batch_size"] = 64  # round(0.64) = 1
    validate_config(config)


@pytest.mark.parametrize(
    ("sweep", "severities", "shown"),
    [
        ("gaussian", [0.04, 0.1, 0.07, 0.14, 0.2], "[0.04, 0.1, 0.07, 0.14, 0.2]"),  # shuffled
        ("gaussian", [0.2, 0.14, 0.1, 0.07, 0.04], "[0.2, 0.14, 0.1, 0.07, 0.04]"),  # decreasing
        ("speckle", [0.04, 0.06, 0.06, 0.16, 0.25], "[0.04, 0.06, 0.06, 0.16, 0.25]"),  # equal
        ("lowres", [1, [1, 2], [1, 1, 2], 2, [2, 3]], "[1, [1, 2], [1, 1, 2], 2, [2, 3]]"),  # means 1.5 > 1.33
        ("lowres", [1, [1, 2], [2, 1], 2, [2, 3]], "[1, [1, 2], [2, 1], 2, [2, 3]]"),  # one mixture twice
    ],
)
def test_sweep_severities_must_increase(sweep, severities, shown):
    config = _shipped()
    config["sweeps"][sweep]["severities"] = severities
    message = f"config key 'sweeps.{sweep}.severities': must be strictly increasing (weakest first"
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        validate_config(config)
    assert shown in str(error.value)


def test_an_overlay_drops_query_sets_with_null():
    from snakemake.utils import update_config

    config = copy.deepcopy(MINIMAL)
    config["queries"]["clean"] = None
    assert set(validate_config(config)["queries"]) == {"noisy"}
    config = _shipped()
    overlay = {"queries": {"lowres": None}, "enhance": {"lowres": None}, "calibration": {"lowres": None}}
    update_config(config, overlay)
    with pytest.raises(ConfigError, match=re.escape("config key 'mixtures.mixed': no query set named 'lowres'")):
        validate_config(copy.deepcopy(config))
    update_config(config, {"mixtures": {"mixed": ["clean", "noisy", "blurry"]}})  # a mixture of what is left
    assert "lowres" not in validate_config(config)["queries"]


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        (
            {"queries": {"noisy": None}},
            "config key 'enhance.noisy': no query set named 'noisy' in 'queries' (queries.noisy is null: dropped)",
        ),
        (
            {"queries": {"lowres": None}, "enhance": {"lowres": None}},
            "config key 'calibration.lowres': no degraded query set named 'lowres' in 'queries' "
            "(queries.lowres is null: dropped)",
        ),
        (
            {"queries": {"clean": None}},
            "config key 'queries': restoring query sets needs a clean query set (an empty list) to measure the gap "
            "a restorer closes (queries.clean is null: dropped)",
        ),
        (
            {"queries": {"clean": None}, "enhance": None, "calibration": None},
            "config key 'sweeps': the robustness curves need a clean query set (an empty list in 'queries') "
            "(queries.clean is null: dropped)",
        ),
        (
            {"queries": {"clean": None}, "enhance": None, "sweeps": None},
            "config key 'calibration.noisy': a drop needs a clean query set (an empty list in 'queries') "
            "(queries.clean is null: dropped)",
        ),
        (
            {"enhancers": {"median": None}},
            "config key 'enhance.noisy': no enhancer named 'median' in 'enhancers' (enhancers.median is null: dropped)",
        ),
    ],
)
def test_what_referred_to_a_dropped_query_set_is_named(overlay, message):
    config = _shipped()
    for section, value in overlay.items():
        if value is None:
            config[section] = {}
        else:
            config[section].update(value)
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(config)


def test_dropping_every_query_set_is_named():
    message = "config key 'queries': no query set is left (queries.clean is null: dropped); at least one is needed"
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config({"queries": {"clean": None}})


def _folder_config(tmp_path, **folder) -> dict:
    config = _shipped()
    config["dataset"] = {"source": "folder", "folder": {"path": str(tmp_path), **folder}, "image_size": 32}
    return config


def test_folder_source_checks_its_files_before_any_job(tmp_path):
    validate_config(_folder_config(tmp_path))  # an existing folder: accepted
    with pytest.raises(ConfigError, match=r"'dataset.folder.path': .*missing is not a folder"):
        validate_config(_folder_config(tmp_path, path=str(tmp_path / "missing")))
    with pytest.raises(ConfigError, match=r"'dataset.folder.manifest': .*labels.csv is not a file"):
        validate_config(_folder_config(tmp_path, manifest=str(tmp_path / "labels.csv")))
    config = _folder_config(tmp_path)
    config["dataset"]["channels"] = 3  # colour from a folder: accepted
    validate_config(config)
    config = _shipped()
    config["dataset"]["channels"] = 3
    with pytest.raises(ConfigError, match=r"'dataset.channels': 3 \(colour\) needs dataset.source folder"):
        validate_config(config)
    config = _folder_config(tmp_path)
    config["dataset"]["image_size"] = 128  # a folder may be converted larger than smallNORB's 96 px
    validate_config(config)


def test_smallnorb_sources_stay_within_their_96_px():
    config = _shipped()
    config["dataset"]["image_size"] = 128
    with pytest.raises(ConfigError, match=r"'dataset.image_size': 128 exceeds smallNORB's 96-px images"):
        validate_config(config)


def test_digits_example_config_is_a_folder_overlay():
    from snakemake.utils import update_config

    config = _shipped()
    update_config(config, yaml.safe_load((REPO / "config/digits.yaml").read_text()))
    assert config["dataset"]["source"] == "folder" and config["dataset"]["folder"]["path"] == "resources/digits"
    assert config["run"] == "digits" and config["dataset"]["image_size"] == 32


def test_config_digest_ignores_key_order_and_sees_every_value(tmp_path):
    from cbir.config import config_digest
    from cbir.stages.report import record_config

    config = _shipped()
    reordered = dict(reversed(list(config.items())))
    assert config_digest(config) == config_digest(reordered)
    changed = copy.deepcopy(config)
    changed["retrieval"]["ks"] = [1, 5]
    assert config_digest(changed) != config_digest(config)
    record_config(config=config, output=tmp_path / "config.yaml", digest=tmp_path / "config.sha256")
    recorded = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert recorded == json.loads(json.dumps(config))  # the whole validated config, defaults filled
    assert (tmp_path / "config.sha256").read_text().strip() == config_digest(recorded) == config_digest(config)
