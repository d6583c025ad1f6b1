"""The run's layout for queries whose degradation nobody announces (beyond the paper): the
mixtures (config `mixtures`), the routed restorers (an enhancer with `route`), the degradation
detector (config `detector`) and the blind table.

`BlindPlan` is a base class of `cbir.layout.RunLayout`, which sets the attributes it reads
(config, results root, replicate seeds, the enhancers in use); every method is a method of the
run's layout. Pure like it: no Snakemake, no file system.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from cbir.config_checks import severity_specs
from cbir.kinds import KINDS, KindError, kind_of

DETECTOR = "detector"  # the detector's checkpoint: models/detector<tag>.pt
REMEDIES = ("none", "oracle", "blind", "universal")  # the blind table's remedies, in its order


def kind_routes(queries: Mapping, enhance: Mapping, recipes: Mapping) -> dict[str, str]:
    """Kind -> the restorer a routed enhancer sends it to: the default (first) enhancer of the
    first configured query set of that kind that has one, routers left out."""
    routes: dict[str, str] = {}
    for query, names in enhance.items():
        specs = queries.get(query)
        if not specs:  # a mixture, or a clean set
            continue
        first = next((name for name in names if "route" not in recipes[name]), None)
        try:
            kind = kind_of(specs)
        except KindError:  # a set of several kinds is no route's target
            continue
        if first is not None:
            routes.setdefault(kind, first)
    return routes


def remedy_sets(query: str, *, clean: str, mixtures: Sequence[str], routes: Mapping[str, str], kind: str | None,
                remedies: Mapping[str, str], restored: Callable[[str, str], str]) -> dict[str, str]:  # fmt: skip
    """Remedy -> the image set that remedy searches for `query` (absent where it has none):
    `remedies` names the enhancers behind oracle, blind and universal; `kind` is the query
    set's one kind (None for a mixture); `restored` is `cbir.layout.restored_name`."""
    sets = {"none": query}
    if query == clean:
        sets["oracle"] = clean
    elif query in mixtures and "oracle" in remedies:
        sets["oracle"] = restored(query, remedies["oracle"])
    elif kind in routes:
        sets["oracle"] = restored(query, routes[kind])
    for remedy in ("blind", "universal"):
        if remedy in remedies:
            sets[remedy] = restored(query, remedies[remedy])
    return sets


class BlindPlan:
    """Mixtures, routing and the detector (mixed into `cbir.layout.RunLayout`)."""

    def _init_blind(self, config: Mapping, used: list[str]) -> None:
        recipes = config["enhancers"]
        self.mixtures = dict(config["mixtures"])
        self.routed = [e for e in used if "route" in recipes[e]]
        self.routes = kind_routes(config["queries"], config["enhance"], recipes)
        self.detected = any(recipes[e]["route"] == DETECTOR for e in self.routed)
        # the enhancers behind the routes must exist in every replicate a router runs in
        self.route_targets = sorted(set(self.routes.values())) if self.routed else []

    def detector_model(self, tag: str = "") -> str:
        """The detector's checkpoint of replicate `tag`."""
        return self.path("models", f"{DETECTOR}{tag}.pt")

    def detector_expectation(self, tag: str = "") -> dict:
        """What a rule that loads the detector of replicate `tag` expects of the checkpoint."""
        recipe = self.config["detector"]
        return {
            "role": DETECTOR,
            "name": DETECTOR,
            "arch": DETECTOR,
            "recipe": recipe,
            "seed": self.replicate_seed(tag),
        }

    def detector_pools(self) -> dict[str, list[dict]]:
        """Kind -> every degradation of that kind the detector learns: the query sets' and config
        `detector.degradations`, or without those every severity of every sweep (so the detector
        is not tied to one strength). The default config lists the sweeps' severities itself, so
        that editing a sweep (a named target) does not retrain the detector of `all`. A kind
        nothing uses has no pool; "none" has the empty one."""
        found = [spec for specs in self.config["queries"].values() for spec in specs]
        extra = self.config["detector"]["degradations"]
        for specs in (
            [extra] if extra else [s for sweep in self.config["sweeps"].values() for s in severity_specs(sweep)]
        ):
            found += specs
        pools: dict[str, list[dict]] = {"none": []}
        for spec in (dict(spec) for spec in found):
            pool = pools.setdefault(kind_of([spec]), [])
            if spec not in pool:
                pool.append(spec)
        return {kind: pools[kind] for kind in KINDS if kind in pools}

    def detector_extremes(self) -> dict[str, list[dict]]:
        """<sweep>_s1 and <sweep>_s<N> -> the degradations of each sweep's weakest and strongest
        severity: the detector is scored there beside the query sets' strengths."""
        out = {}
        for name, sweep in self.config["sweeps"].items():
            specs = severity_specs(sweep)
            out[f"{name}_s1"], out[f"{name}_s{len(specs)}"] = specs[0], specs[-1]
        return out

    def routed_inputs(self, enhancer: str, tag: str) -> dict[str, str]:
        """A routed enhancer's inputs: the detector (route `detector`) and each route's restorer
        inputs (`<kind>_model`, `<kind>_tuned`), of replicate `tag`."""
        inputs = {DETECTOR: self.detector_model(tag)} if self.config["enhancers"][enhancer]["route"] == DETECTOR else {}
        for kind, name in self.routes.items():
            inputs.update({f"{kind}_{key}": path for key, path in self.restorer_inputs(name, tag).items()})
        return inputs

    def route_params(self, enhancer: str, tag: str) -> dict | None:
        """A routed enhancer's routes (kind -> restorer name, recipe, checkpoint expectation) and
        the detector's expectation; None for any other enhancer."""
        recipes = self.config["enhancers"]
        if "route" not in recipes[enhancer]:
            return None
        routes = {
            kind: {"name": name, "enhancer": recipes[name], "expect": self.enhancer_expectation(name, tag)}
            for kind, name in self.routes.items()
        }
        detector = self.detector_expectation(tag) if recipes[enhancer]["route"] == DETECTOR else None
        return {"routes": routes, "detector": detector}

    def blind_remedies(self) -> dict[str, str]:
        """Remedy of the blind table -> its enhancer: `oracle` and `blind` the routers by truth and
        by the detector; `universal` the first network trained on more than one kind of
        degradation (and so not the restorer of one)."""
        recipes, remedies = self.config["enhancers"], {}
        for name in self.routed:
            remedies.setdefault("oracle" if recipes[name]["route"] == "truth" else "blind", name)
        for name in self.trained:
            if len({kind_of([spec]) for spec in recipes[name]["degradations"]}) > 1:
                remedies.setdefault("universal", name)
        return remedies

    def blind_table_plan(self) -> dict[str, dict[str, str]]:
        """Query set -> remedy -> the image set it searches (`cbir.blind_table.remedy_sets`): the
        mixtures, then each configured set of one kind that some route restores, then clean."""
        queries = self.config["queries"]
        kinds = {}
        for query in self.enhance:
            if queries.get(query):
                try:
                    kinds[query] = kind_of(queries[query])
                except KindError:
                    continue
        order = [*self.mixtures, *(q for q in kinds if kinds[q] in self.routes), self.clean]
        remedies = self.blind_remedies()
        plan = {}
        for q in order:
            sets = remedy_sets(q, clean=self.clean, mixtures=list(self.mixtures), routes=self.routes,
                               kind=kinds.get(q), remedies=remedies, restored=self.restored_name)  # fmt: skip
            plan[q] = {remedy: name for remedy, name in sets.items() if name in self.query_sets}
        return plan

    def blind_outputs(self) -> list[str]:
        """The files of `all` that the routed restorers and the detector add."""
        if not (self.routed and self.mixtures):
            return []
        files = [self.path("tables", f"{part}blind.{ext}") for part in ("", "validation/") for ext in ("csv", "md")]
        files.append(self.path("figures", "blind.png"))
        if self.detected:
            files += [self.path("tables", f"detector.{ext}") for ext in ("csv", "md")]
            files += [
                self.path("figures", "detector_confusion.png"),
                self.path("figures", f"learning_curve_{DETECTOR}.png"),
            ]
        return files

    # Held-out families (target `heldout`) --------------------------------------------------

    def heldout_kinds(self) -> list[str]:
        """The families left out one at a time: every kind some sweep varies (none excluded)."""
        kinds = {kind_of([self.config["sweeps"][s]["degradation"]]) for s in self.config["sweeps"]}
        return [kind for kind in KINDS if kind in kinds]

    def heldout_sweeps(self, kind: str) -> list[str]:
        """The sweeps of one family: where what was left out of training is scored."""
        return [s for s, spec in self.config["sweeps"].items() if kind_of([spec["degradation"]]) == kind]

    def heldout_recipe(self, model: str, kind: str) -> dict:
        """The recipe of the robust keys (`model` "keys") or the universal restorer ("universal")
        with every degradation of `kind` left out of training."""
        keys = next(iter(self.config["keys"]))
        name, recipe = (f"keys.{keys}", self.config["keys"][keys]) if model == "keys" else (None, None)
        if model != "keys":
            name = f"enhancers.{self.blind_remedies()['universal']}"
            recipe = self.config["enhancers"][name.split(".")[1]]
        left = [d for d in recipe["degradations"] if kind_of([d]) != kind]
        if not left:
            raise ValueError(
                f"config key '{name}.degradations': all of kind {kind!r}; left out, nothing is left to train on"
            )
        recipe = {**recipe, "degradations": left}
        return {**self.config["classifier"], "degrade": recipe} if model == "keys" else recipe

    def heldout_model(self, model: str, kind: str) -> str:
        """The checkpoint of a model trained without `kind`: models/heldout/<model>_without_<kind>.pt."""
        return self.path("models", "heldout", f"{model}_without_{kind}.pt")

    def heldout_inputs(self) -> dict:
        """What scoring the left-out families reads: per family (`heldout_kinds` order) the models
        trained without it; the full robust keys and universal restorer and the standard keys
        (replicate 0); the gallery (the training split); every severity of every family's sweeps
        (test split), family by family, sweep by sweep, weakest first."""
        keys, kinds = next(iter(self.config["keys"])), self.heldout_kinds()
        return {
            "keys_without": [self.heldout_model("keys", kind) for kind in kinds],
            "universal_without": [self.heldout_model("universal", kind) for kind in kinds],
            "keys_all": self.classifier_model(keys),
            "universal_all": self.path("models", f"{self.blind_remedies()['universal']}.pt"),
            "standard": self.classifier_model("standard"),
            "gallery": self.path("data", "train.h5"),
            "queries": [
                self.sweep_file("queries", s, "none", n)
                for kind in kinds
                for s in self.heldout_sweeps(kind)
                for n in self.severities
            ],
        }

    def heldout_outputs(self) -> list[str]:
        """The files of the named target `heldout`."""
        if not (self.config["keys"] and "universal" in self.blind_remedies() and self.heldout_kinds()):
            raise ValueError(
                "the target `heldout` needs robust keys (config `keys`), a universal restorer (a network trained "
                "on several kinds) and severity sweeps (config `sweeps`)"
            )
        return [self.path("tables", f"heldout.{ext}") for ext in ("csv", "md")] + [self.path("figures", "heldout.png")]
