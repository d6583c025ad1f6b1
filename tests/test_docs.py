"""docs/design.md and the README stay true to the workflow: their rule graph is Snakemake's."""

from __future__ import annotations

import re

from conftest import REPO, run_snakemake


def edges_of(mermaid: str, names: dict[str, str] | None = None) -> set[tuple[str, str]]:
    pairs = re.findall(r"^\s*(\w+) --> (\w+)\s*$", mermaid, re.M)
    names = names or {}
    return {(names.get(a, a), names.get(b, b)) for a, b in pairs}


def test_design_rule_graph_matches_snakemake(workdir):
    # the three targets: the default `all`, the severity sweeps' `robustness` and `calibrate`
    out = run_snakemake(workdir, "all", "robustness", "calibrate", "--rulegraph", "mermaid-js").stdout
    names = dict(re.findall(r"^\s*(id\d+)\[(\w+)\]", out, re.M))
    actual = {edge for edge in edges_of(out, names) if edge[1] not in ("all", "robustness", "calibrate")}
    expected = "\n".join(["flowchart TB", *(f"    {a} --> {b}" for a, b in sorted(actual))])
    for doc in ("docs/design.md", "README.md"):
        block = (REPO / doc).read_text().split("```mermaid", 1)[1].split("```", 1)[0]
        assert edges_of(block) == actual, f"update the mermaid block in {doc} to:\n{expected}"
