"""A run's folder as the `cbir` commands read it (results/<run>/, the layout workflow/rules write):
its replicates, key sets, query sets, restorers, recorded config, and which classifier and
gallery a key set searches with.

It reads what a run left on disk (runs made before config.yaml was recorded included), so it
finds names by the files rather than deriving them from a config. Nothing here imports torch,
so `cbir runs` and the argument errors answer at once.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path

import h5py
import yaml

from cbir.layout import JUDGE, STANDARD, classifier_name, split_restored, tag_of

__all__ = ["JUDGE", "STANDARD", "CliError", "Run", "classifier_name", "default_config", "tag_of"]

FINISHED = ("tables", "table1.md")  # written by the report, the last rule of target `all`


class CliError(Exception):
    """Bad input to a command: the message is the one line the user sees."""


@functools.cache
def _defaults() -> dict:
    from cbir.config import validate_config

    return validate_config({"queries": {"clean": []}})


def default_config() -> dict:
    """Every setting at the schema's default: what a run without a recorded config ran with,
    unless its config said otherwise."""
    return copy.deepcopy(_defaults())


def read_h5_attrs(path: Path) -> tuple[dict, tuple[int, ...] | None]:
    """(attributes, shape of the images or features) of a pipeline HDF5 file without reading its
    data (`cbir.h5store` reads whole files); ({}, None) when it is absent or unreadable."""
    try:
        with h5py.File(path, "r") as h5:
            attrs = json.loads(h5.attrs["meta"]) if "meta" in h5.attrs else {}
            data = h5.get("images", h5.get("features"))
            return attrs, None if data is None else tuple(data.shape)
    except Exception:  # absent, damaged or being written: a listing shows "-"
        return {}, None


class Run:
    """The folder of one run under results/."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.name = self.path.name

    @classmethod
    def find(cls, results: str | os.PathLike, name: str) -> Run:
        """The run `name` under `results`, or `name` itself when it is a run's folder."""
        for path in (Path(results) / name, Path(name)):
            if path.is_dir() and any((path / part).exists() for part in ("data", "models", "embeddings")):
                return cls(path)
        runs = [p.name for p in sorted(Path(results).glob("*/")) if p.is_dir()]
        known = f"runs there: {', '.join(runs)}" if runs else "it holds no runs"
        raise CliError(f"no run {name!r} under {results}/ ({known})")

    def file(self, *parts: str) -> Path:
        return self.path.joinpath(*parts)

    def rel(self, path: Path) -> str:
        """`path` as the user knows it: under the run's folder."""
        return str(self.path / path.relative_to(self.path))

    @functools.cached_property
    def recorded_config(self) -> dict | None:
        """The run's recorded config (config.yaml, every default filled); None for runs made before
        runs recorded it."""
        path = self.file("config.yaml")
        if not path.is_file():
            return None
        try:
            config = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise CliError(f"{path}: not a readable config ({type(exc).__name__}: {exc})") from exc
        if not isinstance(config, dict):
            raise CliError(f"{path}: not a config (a mapping expected)")
        return config

    def config(self) -> dict:
        """The recorded config, else the schema's defaults (batch size, chunk size, rescale)."""
        return self.recorded_config if self.recorded_config is not None else default_config()

    @property
    def digest(self) -> str | None:
        """The recorded config's sha256 (config.sha256), None when absent."""
        path = self.file("config.sha256")
        text = path.read_text().split() if path.is_file() else []
        return text[0] if text else None

    @property
    def finished(self) -> bool:
        return self.file(*FINISHED).is_file()

    def replicates(self) -> list[int]:
        """The replicates whose standard classifier exists."""
        found = []
        for path in self.file("models").glob("classifier*.pt"):
            stem, _, rep = path.stem.partition("@")
            if stem == "classifier" and (rep == "" or rep.isdigit()):
                found.append(int(rep or 0))
        return sorted(found)

    def replicate_count(self) -> int:
        if self.recorded_config is not None and isinstance(self.recorded_config.get("replicates"), int):
            return self.recorded_config["replicates"]
        return max(self.replicates(), default=-1) + 1

    def key_sets(self) -> list[str]:
        """The key sets with embeddings (folders under embeddings/ without a replicate tag), the
        standard keys first; `judge` is not one (an evaluation folder)."""
        root = self.file("embeddings")
        names = [p.name for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
        names = sorted(n for n in names if "@" not in n and n != JUDGE)
        return sorted(names, key=lambda n: n != STANDARD)

    def query_sets(self) -> list[str]:
        """The configured query sets, else those the run degraded (queries/<name>.h5)."""
        if self.recorded_config is not None and isinstance(self.recorded_config.get("queries"), dict):
            return list(self.recorded_config["queries"])
        stems = [p.stem for p in self.file("queries").glob("*.h5")]
        return sorted(s for s in stems if not split_restored(s)[1] and "@" not in s)

    def learned_enhancers(self, replicate: int = 0) -> list[str]:
        """The trained restorers of a replicate (models/<name>{tag}.pt other than classifiers)."""
        tag = tag_of(replicate)
        names = []
        for path in self.file("models").glob(f"*{tag}.pt"):
            name, _, rep = path.stem.partition("@")
            if rep == tag[1:] and not name.startswith("classifier"):
                names.append(name)
        return sorted(names)

    def disk_usage(self) -> int:
        """Bytes on disk under the folder (allocated blocks, like du)."""
        total = 0
        for root, _, files in os.walk(self.path):
            for name in files:
                try:
                    total += os.lstat(os.path.join(root, name)).st_blocks * 512
                except OSError:  # removed while we walk (a running workflow's temporaries)
                    pass
        return total

    def searched_by(self, keys: str, replicate: int) -> tuple[Path, Path, str]:
        """(classifier checkpoint, gallery embeddings, its key set) that key set `keys` of
        `replicate` searches with: the key set's own, or for `judge` the next replicate's
        standard keys (common.smk: judge_tag). A key set, replicate or file the run lacks is an
        error naming what it has."""
        known = self.key_sets()
        if keys != JUDGE and known and keys not in known:
            raise CliError(f"unknown key set {keys!r}: run {self.name} has {', '.join(known)} (and {JUDGE})")
        replicates = self.replicates()
        if replicates and replicate not in replicates:
            raise CliError(
                f"no replicate {replicate} in run {self.name} (replicates: {', '.join(map(str, replicates))})"
            )
        model_keys, model_replicate = keys, replicate
        if keys == JUDGE:
            count = self.replicate_count()
            if count < 2:
                raise CliError(f"key set {JUDGE!r} needs replicates; run {self.name} has {max(count, 0)}")
            model_keys, model_replicate = STANDARD, (replicate + 1) % count
        tag = tag_of(model_replicate)
        model = self.file("models", f"{classifier_name(model_keys)}{tag}.pt")
        gallery = self.file("embeddings", f"{model_keys}{tag}", "gallery.h5")
        for path, what in ((model, "classifier"), (gallery, "gallery embeddings")):
            if not path.is_file():
                raise CliError(
                    f"run {self.name} is unfinished: no {what} {self.rel(path)} (run the workflow to the end)"
                )
        return model, gallery, model_keys

    def restorer(self, name: str, replicate: int) -> tuple[dict | None, Path | None, Path | None]:
        """(enhancer config, checkpoint, tuning file) of the restorer `name` for `replicate`: a
        trained network's checkpoint models/<name>{tag}.pt (its config None without a recorded
        config), or a classical method of the recorded config with its `auto` parameters' choice
        tuning/<name>.json."""
        from cbir.tuning import auto_params

        config = self.recorded_config
        known = (config or {}).get("enhancers") or {}
        recipe = known.get(name) if isinstance(known, dict) else None
        checkpoint = self.file("models", f"{name}{tag_of(replicate)}.pt")
        if isinstance(recipe, dict) and "route" in recipe:  # a router: its detector and routes are found by `router`
            return recipe, None, None
        if isinstance(recipe, dict) and "method" in recipe:
            tuned = self.file("tuning", f"{name}.json") if auto_params(recipe) else None
            if tuned is not None and not tuned.is_file():
                raise CliError(
                    f"enhancer {name!r} has auto parameters but run {self.name} has no tuning result "
                    f"{self.rel(tuned)} (the run never used it)"
                )
            return recipe, None, tuned
        if not name.startswith("classifier") and checkpoint.is_file():
            return (recipe if isinstance(recipe, dict) else None), checkpoint, None
        if isinstance(recipe, dict) and "network" in recipe:
            raise CliError(
                f"enhancer {name!r} of run {self.name} has no checkpoint {self.rel(checkpoint)} (replicate "
                f"{replicate} never trained it)"
            )
        learned = ", ".join(self.learned_enhancers(replicate)) or "none"
        if config is None:
            raise CliError(
                f"unknown enhancer {name!r}: run {self.name} has the trained restorers {learned} (replicate "
                f"{replicate}); it has no recorded config (config.yaml), so its classical enhancers cannot be used"
            )
        classical = ", ".join(n for n, r in known.items() if isinstance(r, dict) and "method" in r) or "none"
        raise CliError(
            f"unknown enhancer {name!r}: run {self.name} has the trained restorers {learned} (replicate "
            f"{replicate}) and the classical {classical}"
        )

    def seed(self) -> int:
        """The run's master seed: the recorded config's, else that of replicate 0's standard
        classifier, which trains with the master seed (common.smk: replicate_seed)."""
        if self.recorded_config is not None and "seed" in self.recorded_config:
            return int(self.recorded_config["seed"])
        from cbir.checkpoint import read_checkpoint

        return int(read_checkpoint(self.file("models", "classifier.pt"))["meta"]["seed"])
