"""The runtime table of a run: wall time, CPU time and memory per rule from Snakemake's
benchmark files."""

from __future__ import annotations

import pandas as pd

from cbir.tables import markdown_table


def runtime_summary(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per rule from Snakemake benchmark rows (`rule`, `s`, `max_rss`, `cpu_time`): jobs, total
    and longest wall time (s), CPU time (s) and the largest max RSS (MB), longest total first,
    then a `total` row."""
    summary = (
        jobs.groupby("rule")
        .agg(
            jobs=("s", "size"),
            wall_s=("s", "sum"),
            longest_s=("s", "max"),
            cpu_s=("cpu_time", "sum"),
            max_rss_mb=("max_rss", "max"),
        )
        .sort_values("wall_s", ascending=False)
        .reset_index()
    )
    total = {
        "rule": "total",
        "jobs": int(summary["jobs"].sum()),
        "wall_s": summary["wall_s"].sum(),
        "longest_s": summary["longest_s"].max(),
        "cpu_s": summary["cpu_s"].sum(),
        "max_rss_mb": summary["max_rss_mb"].max(),
    }
    return pd.concat([summary, pd.DataFrame([total])], ignore_index=True)


def runtime_markdown(summary: pd.DataFrame, elapsed_s: float | None = None) -> str:
    """The runtime summary as a table; the sum of wall times exceeds the run's elapsed time
    when jobs ran side by side."""
    header = ["Rule", "Jobs", "Wall time (s)", "Longest job (s)", "CPU time (s)", "Max RSS (MB)"]
    rows = [
        [
            str(r.rule),
            str(int(r.jobs)),
            f"{r.wall_s:.1f}",
            f"{r.longest_s:.1f}",
            f"{r.cpu_s:.1f}",
            f"{r.max_rss_mb:.0f}",
        ]
        for r in summary.itertuples()
    ]
    note = "From the `benchmark:` file of every job (logs/<run>/benchmarks/); wall times add up over jobs that may have run in parallel."
    if elapsed_s is not None:
        note += f" The whole run took {elapsed_s:.0f} s."
    return "\n".join(["# Runtime per rule\n", note + "\n", markdown_table(header, rows)])
