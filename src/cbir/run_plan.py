"""The files of a run's named targets beyond `all`: `robustness` (the severity sweeps, config
`sweeps`) and `calibrate` (config `calibration`), and the runs their tables read.

`NamedTargets` is a base class of `cbir.layout.RunLayout`, which sets the attributes it reads
(results root, key sets, tags, sweeps and severities, the calibration grid); every method is a
method of the run's layout. Pure like it: no Snakemake, no file system.
"""

from __future__ import annotations

NONE = "none"  # the enhancer of an unrestored image set (no enhancer may be called so)


class NamedTargets:
    """Sweep and calibration paths of a run (mixed into `cbir.layout.RunLayout`)."""

    # Severity sweeps ----------------------------------------------------------------------

    def sweep_enhancers(self, sweep: str) -> list[str]:
        """The enhancers of one sweep's image sets: `none` (unrestored), then each of its own."""
        return [NONE, *self.sweeps[sweep]["enhancers"]]

    def sweep_file(self, kind: str, sweep: str, enhancer: str, n, keys: str | None = None, part: str = "") -> str:
        """One severity's file of a sweep on the test split (part "") or the validation split:
        kind queries, or embeddings / retrieval of a key set."""
        folder = f"{kind}/{keys}" if keys else kind
        return self.path("sweeps", f"{part}{sweep}", folder, enhancer, f"s{n}.h5")

    def sweep_files(self, kind: str, sweep: str, enhancer: str, keys: str | None = None, part: str = "") -> list[str]:
        """The per-severity files of one sweep, severity 1 first."""
        return [self.sweep_file(kind, sweep, enhancer, n, keys, part) for n in self.severities]

    def sweep_enhancement_inputs(self, sweep: str, enhancer: str, part: str) -> dict:
        """What a restorer needs for a sweep: every severity's query set, and its own inputs (a
        trained checkpoint of replicate 0, a tuned choice)."""
        return {"queries": self.sweep_files("queries", sweep, NONE, part=part), **self.restorer_inputs(enhancer)}

    def sweep_runs(self) -> list[list]:
        """(part, keys, enhancer, sweep, severity) of every sweep retrieval: the test split's
        (part ""), then the validation split's."""
        return [
            [part, keys, enhancer, sweep, n]
            for part in self.parts
            for sweep in self.sweeps
            for enhancer in self.sweep_enhancers(sweep)
            for keys in self.keys
            for n in self.severities
        ]

    def sweep_outputs(self, kind: str) -> list[str]:
        """The embeddings or retrieval file of every sweep retrieval, in `sweep_runs` order."""
        return [
            self.sweep_file(kind, sweep, enhancer, n, keys, part)
            for part, keys, enhancer, sweep, n in self.sweep_runs()
        ]

    def robustness_outputs(self) -> list[str]:
        """The severity sweeps' results: the named target `robustness` (not part of `all`), with
        the learning curves of the networks only the sweeps use."""
        if not self.sweeps:
            raise ValueError("config key 'sweeps' is empty: the target `robustness` has no severity sweep to run")
        curves = [self.path("figures", f"learning_curve_{m}.png") for m in self.trained if m not in self.trained_all]
        names = ["tables/robustness.csv", "tables/robustness.md", "figures/robustness_curves.png"]
        return [self.path(name) for name in names] + curves

    # Calibration --------------------------------------------------------------------------

    def calibration_file(self, kind: str, qset: str, i: int, folder: str = "") -> str:
        """Grid value i's file of a calibrated query set: kind queries, embeddings or retrieval."""
        return self.path("calibration", kind, f"{folder}{qset}", f"v{i}.h5")

    def calibration_runs(self) -> list[list]:
        """(query set, grid index or -1 for the configured strength, replicate) of every search
        the calibration table reads."""
        return [
            [qset, i, r]
            for qset in self.calibration
            for i in [*range(len(self.grids.get(qset, []))), -1]
            for r in range(len(self.tags))
        ]

    def calibration_images(self) -> list[str]:
        """The image set of every calibration search (`calibration_searched`): a grid value's, or
        the validation query set itself at its configured strength."""
        return [
            self.query_file(q, "validation/")
            if n == "configured"
            else self.path("calibration", "queries", q, f"{n}.h5")
            for q, n in self.calibration_searched
        ]

    def calibration_searches(self, kind: str, tag: str = "{rep}") -> list[str]:
        """One replicate's embeddings or retrieval file of every `calibration_searched` set."""
        return [self.path("calibration", kind, f"standard{tag}", q, f"{n}.h5") for q, n in self.calibration_searched]

    def calibration_reads(self, kind: str) -> list[str]:
        """The embeddings or retrieval file of each `calibration_runs` entry."""
        return [
            self.path("calibration", kind, f"standard{self.tags[r]}", q, f"{'configured' if i < 0 else f'v{i}'}.h5")
            for q, i, r in self.calibration_runs()
        ]

    def calibration_outputs(self) -> list[str]:
        """The files of the named target `calibrate`."""
        if not self.calibration:
            raise ValueError("config key 'calibration' is empty: the target `calibrate` has nothing to calibrate")
        return [
            self.path(name) for name in ("tables/calibration.csv", "tables/calibration.md", "figures/calibration.png")
        ]
