"""The file layout of one run: every name and path the workflow derives from a validated config.

`RunLayout(config)` answers what workflow/rules/common.smk used to compute inline: the run's
roots (results/<run>/, logs/<run>/), the query sets (configured, restored, blind), the tags of
the replicates, each key set's classifier, the sets one search covers, and the path of every
file a rule reads or writes. Its methods take plain strings (wildcard values) where the rules
have wildcards; common.smk unpacks them. Nothing here imports Snakemake or touches a file, so
the whole layout is unit-tested (tests/test_run_layout.py).

Names (docs/design.md, "Names", has the glossary):
    restored query set  <query>__<enhancer> (`restored_name`, `split_restored`: the one place
                        that builds or splits it; `__` never occurs in configured names; enhancer
                        `none` names the query set itself, unrestored)
    replicate tag       "" for replicate 0, "@r" for replicate r (`tag_of`, `replicate_of`),
                        after a network's, key set's or network-restored set's file name
    part                "" (the test split) or "validation/" (the validation split), before a
                        query set's file name
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from cbir.blind_plan import BlindPlan
from cbir.calibration import grids as calibration_grids
from cbir.run_plan import NONE, NamedTargets
from cbir.seeding import stream_key

SEPARATOR = "__"  # a restored query set is <query>__<enhancer>
STANDARD = "standard"  # the key set of config `classifier`
JUDGE = "judge"  # the searches of replicate r's restored sets by replicate r+1's standard keys
PARTS = ("", "validation/")  # a query set's file on the test split, on the validation split
RAW_SPLITS = ("train", "test")  # smallNORB's official splits
FINAL_FIGURES = ("dataset", "degradations", "augmentation", "confusion_matrix")
FINAL_TABLES = ("retrieval.csv", "table1.md", "queries.md")
NEVER = "(?!)"  # a wildcard constraint that matches nothing (an empty list of names)


def restored_name(query: str, enhancer: str) -> str:
    """The restored query set of `query` by `enhancer`: noisy, median -> noisy__median; enhancer
    `none` (no enhancer may be called so) is the query set itself: noisy, none -> noisy."""
    return query if enhancer == NONE else f"{query}{SEPARATOR}{enhancer}"


def split_restored(name: str) -> tuple[str, str]:
    """(query set, enhancer) of a query-set name; the enhancer is "" for an unrestored set."""
    query, _, enhancer = name.partition(SEPARATOR)
    return query, enhancer


def tag_of(replicate: int) -> str:
    """The file-name tag of a replicate: "" for 0, "@2" for 2."""
    return f"@{replicate}" if replicate else ""


def replicate_of(tag: str) -> int:
    """The replicate number of a tag ("" -> 0, "@2" -> 2)."""
    return int(tag[1:]) if tag else 0


def classifier_name(keys: str) -> str:
    """The checkpoint name of key set `keys`: classifier (standard), classifier_<keys>."""
    return "classifier" if keys == STANDARD else f"classifier_{keys}"


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


class RunLayout(NamedTargets, BlindPlan):
    """Every derived name and path of the run a validated config describes (with the sweep and
    calibration paths of `cbir.run_plan.NamedTargets` and the routing of `cbir.blind_plan.BlindPlan`)."""

    restored_name = staticmethod(restored_name)  # for the base classes, which cannot import it

    def __init__(self, config: Mapping):
        self.config = config
        self.run = config["run"]
        self.results = f"results/{self.run}"
        self.logs = f"logs/{self.run}"
        source = config["dataset"]["source"]
        self.synthetic, self.folder = source == "synthetic", source == "folder"
        self.raw = "resources/synthnorb" if self.synthetic else "resources/smallnorb"
        self.splits = list(RAW_SPLITS)
        self.parts = list(PARTS)
        # Query sets: as configured, each restored by each of its enhancers (`enhance`, the
        # default first), and the blind cost: the clean queries restored by every enhancer.
        self.queries = list(config["queries"]) + list(config["mixtures"])
        self.clean = next((q for q, specs in config["queries"].items() if not specs), None)
        self.enhance = config["enhance"]
        self.restored = [restored_name(q, e) for q, names in self.enhance.items() for e in names]
        self.default_restored = [restored_name(q, names[0]) for q, names in self.enhance.items()]
        in_enhance = _unique(e for names in self.enhance.values() for e in names)
        self.blind = [restored_name(self.clean, e) for e in in_enhance]
        self.query_sets = self.queries + self.restored + self.blind
        # Severity sweeps (not part of `all`): name -> degradation at increasing strengths.
        self.sweeps = config["sweeps"]
        steps = len(next(iter(self.sweeps.values()))["severities"]) if self.sweeps else 0
        self.severities = list(range(1, steps + 1))
        # Enhancers in use: networks train, classical methods with `auto` parameters are tuned.
        recipes = config["enhancers"]
        self.used = sorted(set(in_enhance) | {e for s in self.sweeps.values() for e in s["enhancers"]})
        self.trained = [e for e in self.used if "network" in recipes[e]]
        self.tuned = [e for e in self.used if recipes[e].get("grid")]
        self.trained_all = [e for e in self.trained if e in in_enhance]  # the sweeps' only: `robustness`
        self.tuned_all = [e for e in self.tuned if e in in_enhance]
        self._init_blind(config, self.used)  # mixtures, routed enhancers, the detector
        # Key sets: `standard` (config `classifier`) and each of config `keys`, one classifier each.
        self.keys = [STANDARD, *config["keys"]]
        self.classifier = {keys: classifier_name(keys) for keys in self.keys}
        self.keys_of = {model: keys for keys, model in self.classifier.items()}
        self.gpu = 0 if config["runtime"]["device"] == "cpu" else 1
        self.replicates = config["replicates"]
        self.tags = [tag_of(r) for r in range(self.replicates)]
        # One search of a key set and replicate covers the unrestored and classically restored
        # sets (shared by every replicate) and the sets its own networks restored (tagged).
        own = set(self.trained) | set(self.routed)  # a router runs the replicate's networks
        self.searched_shared = [q for q in self.query_sets if split_restored(q)[1] not in own]
        self.searched_own = [q for q in self.query_sets if split_restored(q)[1] in own]
        # Calibration (target `calibrate`): the grid of each calibrated set and what one
        # replicate's search covers: the grid, each calibrated set at its configured strength
        # and the clean set (validation query sets searched again: `calibrate` needs no restorer).
        self.calibration = config["calibration"]
        self.grids = calibration_grids(config["queries"], self.calibration)
        self.grid = [[q, i] for q in self.grids for i in range(len(self.grids[q]))]
        self.calibration_searched = [[q, f"v{i}"] for q, i in self.grid]
        self.calibration_searched += [[q, "configured"] for q in [*self.calibration, self.clean]]

    def path(self, *parts: str) -> str:
        """A file under results/<run>/."""
        return "/".join([self.results, *parts])

    # Replicates ---------------------------------------------------------------------------

    def replicate_seed(self, tag: str) -> int:
        """Replicate 0 trains with the master seed (a run without replicates), replicate r with a
        seed derived from it."""
        r, seed = replicate_of(tag), self.config["seed"]
        return seed if r == 0 else stream_key(seed, "replicate", r) % 2**32

    def judge_tag(self, tag: str) -> str:
        """The replicate whose classifier judges replicate `tag`'s restorers: the next one."""
        return self.tags[(replicate_of(tag) + 1) % self.replicates]

    def tagged(self, qset: str, tag: str) -> str:
        """The file name of query set `qset` as replicate `tag` searches it."""
        return f"{qset}{tag}" if qset in self.searched_own else qset

    def wildcard_constraints(self) -> dict[str, str]:
        """The regular expression of every global wildcard."""
        return {
            "split": "train_all|test",
            "part": "(validation/)?",
            "rep": "|".join(self.tags[1:]) + "|",
            "query": "|".join(self.queries),
            "qset": "|".join(self.query_sets),
            "enhancer": "|".join(self.used) or NEVER,
            "key_set": "|".join(self.keys),
            "sweep": "|".join(self.sweeps) or NEVER,
        }

    def sweep_enhancer_constraint(self) -> str:
        """The wildcard `enhancer` of a sweep's searched image sets (rule retrieve_sweep): `none`
        (unrestored) or an enhancer in use; the global constraint leaves `none` out."""
        return "|".join([NONE, *self.used])

    # Data ---------------------------------------------------------------------------------

    def raw_file(self, name: str, placed: bool = False) -> str:
        """A raw smallNORB file (official name `name`): plain if rendered or placed by the user
        (`placed`: the plain file exists), else the gzipped download."""
        return f"{self.raw}/{name}" if self.synthetic or placed else f"{self.raw}/{name}.gz"

    @staticmethod
    def raw_split(split: str) -> str:
        """The official split a converted split comes from (train_all: the whole training split)."""
        return "train" if split == "train_all" else split

    def folder_inputs(self) -> list[str]:
        """What the ingest of an image folder reads: the manifest if there is one, and the folder
        (a file added or removed there changes its time stamp)."""
        folder = self.config["dataset"]["folder"]
        return [p for p in (folder["manifest"], folder["path"]) if p]

    def dataset_figure_inputs(self, raw_files: Sequence[str]) -> list[str]:
        """The dataset figure draws smallNORB's raw files, or a folder source's converted splits."""
        if self.folder:
            return [self.path("data", f"{split}.h5") for split in ("train_all", "test")]
        return list(raw_files)

    def query_file(self, name: str, part: str = "") -> str:
        """A query image set (configured, restored or tagged) of the test split or `part`."""
        return self.path("queries", f"{part}{name}.h5")

    def query_source(self, part: str) -> str:
        """The clean images a query set of `part` degrades: the test or the validation split."""
        return self.path("data", f"{'validation' if part else 'test'}.h5")

    # Models -------------------------------------------------------------------------------

    def classifier_model(self, keys: str, tag: str = "") -> str:
        """The checkpoint of key set `keys`, replicate `tag`."""
        return self.path("models", f"{self.classifier[keys]}{tag}.pt")

    def gallery(self, keys: str, tag: str = "") -> str:
        """The gallery embeddings of key set `keys`, replicate `tag`."""
        return self.path("embeddings", f"{keys}{tag}", "gallery.h5")

    def classifier_recipe(self, keys: str) -> Mapping:
        """The training recipe of key set `keys`: config `classifier`, plus `degrade` for the
        robust ones."""
        if keys == STANDARD:
            return self.config["classifier"]
        return {**self.config["classifier"], "degrade": self.config["keys"][keys]}

    def classifier_expectation(self, keys: str, tag: str = "") -> dict:
        """What a rule that loads key set `keys`' classifier of replicate `tag` expects of the
        checkpoint (cbir.checkpoint.check_expected): that key set, its ResNet, recipe and seed."""
        recipe = self.classifier_recipe(keys)
        seed = self.replicate_seed(tag)
        return {"role": "classifier", "name": keys, "arch": recipe["arch"], "recipe": recipe, "seed": seed}

    def enhancer_expectation(self, enhancer: str, tag: str = "") -> dict | None:
        """What a rule that loads the trained restorer `enhancer` of replicate `tag` expects of it;
        None for a classical method (no checkpoint)."""
        recipe = self.config["enhancers"][enhancer]
        if "network" not in recipe:
            return None
        arch, seed = recipe["network"], self.replicate_seed(tag)
        return {"role": "enhancer", "name": enhancer, "arch": arch, "recipe": recipe, "seed": seed}

    def _feature_loss(self, enhancer: str) -> bool:
        return self.config["enhancers"][enhancer]["loss"]["feature"] > 0

    def feature_classifier_expectation(self, enhancer: str, tag: str) -> dict | None:
        """The classifier a restorer's feature loss reads (`enhancer_training_inputs`), or None
        where the loss has no feature term (so that the classifier's recipe is no param of theirs)."""
        return self.classifier_expectation(STANDARD, tag) if self._feature_loss(enhancer) else None

    def enhancer_training_inputs(self, enhancer: str, tag: str) -> dict[str, str]:
        """The splits, and the classifier when the loss compares its embeddings (loss.feature > 0):
        retraining the classifier then retrains exactly these restorers."""
        inputs = {"train": self.path("data", "train.h5"), "validation": self.path("data", "validation.h5")}
        if self._feature_loss(enhancer):
            inputs["classifier"] = self.classifier_model(STANDARD, tag)
        return inputs

    # Restoration --------------------------------------------------------------------------

    def restored_sets(self, query: str) -> list[str]:
        """The restored query sets of `query` (test split), in the order of its enhancers."""
        return [self.query_file(restored_name(query, e)) for e in self.enhance[query]]

    def restorer_inputs(self, enhancer: str, tag: str = "") -> dict[str, str]:
        """A restorer's own inputs: a trained network's checkpoint (of replicate `tag`), or the
        validation choice of a classical method's `auto` parameters."""
        if enhancer in self.trained:
            return {"model": self.path("models", f"{enhancer}{tag}.pt")}
        if enhancer in self.routed:
            return self.routed_inputs(enhancer, tag)
        if enhancer in self.tuned:
            return {"tuned": self.path("tuning", f"{enhancer}.json")}
        return {}

    def restored_by(self, enhancer: str) -> list[str]:
        """The query sets `enhancer` restores, in `enhance` order: those that list it, and the
        clean set (its blind cost)."""
        return [q for q, names in self.enhance.items() if enhancer in names] + [self.clean]

    def enhancement_outputs(self, enhancer: str) -> list[str]:
        """One restoration job's files (wildcards part and, for a network or router, rep): every
        set `enhancer` restores, `restored_by` order."""
        tag = "{rep}" if enhancer in self.trained or enhancer in self.routed else ""
        return [
            self.path("queries", f"{{part}}{restored_name(q, enhancer)}{tag}.h5") for q in self.restored_by(enhancer)
        ]

    def enhancement_inputs(self, enhancer: str, part: str, tag: str = "") -> dict:
        """What one restoration job needs: every query set the enhancer restores (`restored_by`
        order), and `restorer_inputs` (of replicate `tag`): the model is loaded once for all."""
        queries = [self.query_file(q, part) for q in self.restored_by(enhancer)]
        return {"queries": queries, **self.restorer_inputs(enhancer, tag)}

    def tuning_inputs(self, enhancer: str) -> dict[str, str]:
        """What choosing a classical method's parameters reads: the validation queries of the
        first query set it restores (else of the middle severity of the first sweep that uses
        it), the standard keys' classifier and gallery."""
        query = next((q for q, names in self.enhance.items() if enhancer in names), None)
        if query is None:
            sweep = next(s for s, spec in self.sweeps.items() if enhancer in spec["enhancers"])
            middle = self.severities[len(self.severities) // 2]
            queries = self.sweep_file("queries", sweep, NONE, middle, part="validation/")
        else:
            queries = self.query_file(query, "validation/")
        return {"queries": queries, "model": self.classifier_model(STANDARD), "gallery": self.gallery(STANDARD)}

    # Searches -----------------------------------------------------------------------------

    def search_outputs(self, kind: str, shared: Sequence[str], own: Sequence[str], folder: str = "{key_set}"):
        """The per-set files (kind embeddings or retrieval) of one search job: `shared` as named,
        `own` tagged with the job's replicate (the wildcard rep appears twice)."""
        root = self.path(kind, f"{folder}{{rep}}", "{part}")
        return [f"{root}{q}.h5" for q in shared] + [f"{root}{q}{{rep}}.h5" for q in own]

    def search_inputs(self, keys: str, tag: str, part: str) -> dict:
        """One search job's classifier, gallery embeddings and query image sets (in `names` order)."""
        names = self.searched_shared + [f"{q}{tag}" for q in self.searched_own]
        return {
            "model": self.classifier_model(keys, tag),
            "gallery": self.gallery(keys, tag),
            "images": [self.query_file(name, part) for name in names],
        }

    def judge_inputs(self, tag: str, part: str) -> dict:
        """Replicate `tag`'s network-restored sets and the next replicate's standard classifier."""
        judge = self.judge_tag(tag)
        return {
            "model": self.classifier_model(STANDARD, judge),
            "gallery": self.gallery(STANDARD, judge),
            "images": [self.query_file(f"{q}{tag}", part) for q in self.searched_own],
        }

    def search_plan(self) -> list[list]:
        """Every search a table reads, as [role, key set, query set, replicate, folder, file name]:
        role `search` (the key set's own replicate) or `judge` (replicate r's restored sets
        searched by the next replicate's standard keys, when there are replicates); files under
        embeddings/<folder>/ and retrieval/<folder>/."""
        plan = [
            ["search", keys, qset, replicate_of(tag), f"{keys}{tag}", self.tagged(qset, tag)]
            for keys in self.keys
            for tag in self.tags
            for qset in self.query_sets
        ]
        if self.replicates > 1:
            plan += [
                [JUDGE, STANDARD, qset, replicate_of(tag), f"{JUDGE}{tag}", f"{qset}{tag}"]
                for tag in self.tags
                for qset in self.searched_own
            ]
        return plan

    def searches(self, part: str) -> dict[str, list[str]]:
        """The files of `search_plan` for one split (part): embeddings and top-k files in plan
        order, and each key set's gallery per replicate."""
        plan = self.search_plan()
        return {
            "galleries": [self.gallery(k, t) for k in self.keys for t in self.tags],
            "embeddings": [self.path("embeddings", f, f"{part}{n}.h5") for *_, f, n in plan],
            "results": [self.path("retrieval", f, f"{part}{n}.h5") for *_, f, n in plan],
        }

    # Targets ------------------------------------------------------------------------------

    def final_outputs(self) -> list[str]:
        """Every file of the default target `all`."""
        figures, tables = list(FINAL_FIGURES), list(FINAL_TABLES)
        if self.enhance:
            figures.append("gap_closed")
            tables += ["enhancement.csv", "enhancement.md"]
        models = [*self.classifier.values(), *self.trained_all]
        return [
            *[self.path("data", f"{split}.h5") for split in ("train", "validation", "test")],
            *[self.query_file(qset, part) for part in PARTS for qset in self.query_sets],
            *[self.path("tuning", f"{name}.json") for name in self.tuned_all],
            *[self.path("figures", f"{name}.png") for name in figures],
            *[self.path("figures", f"learning_curve_{m}.png") for m in models],
            *[self.path("figures", f"enhancement_{query}.png") for query in self.enhance],
            *[self.path("figures", f"retrieval_{q}.png") for q in self.queries + self.default_restored],
            *[self.path("tables", f"{part}{name}") for part in PARTS for name in tables],
            self.path("tables", "classification.json"),
            self.path("config.yaml"),
            *self.blind_outputs(),
        ]

    def runtime_tables(self) -> dict[str, str]:
        """Where the runtime table goes after a successful run (keywords of `runtime_table`)."""
        return {"csv": self.path("tables", "runtime.csv"), "markdown": self.path("tables", "runtime.md")}

    @property
    def benchmarks(self) -> str:
        """The run's benchmark files: <benchmarks>/<rule>/[<keys>/]<job>.tsv."""
        return f"{self.logs}/benchmarks"

    @property
    def render_benchmark(self) -> str | None:
        """The benchmark of the surrogate's rendering (shared by every run), for a synthetic run."""
        return "logs/benchmarks/synthesize_smallnorb.tsv" if self.synthetic else None
