"""docs/design.md stays true to the workflow: its rule graph is Snakemake's."""

from __future__ import annotations

import re

from conftest import REPO, run_snakemake


def edges_of(mermaid: str, names: dict[str, str] | None = None) -> set[tuple[str, str]]:
    pairs = re.findall(r"^\s*(\w+) --> (\w+)\s*$", mermaid, re.M)
    names = names or {}
    return {(names.get(a, a), names.get(b, b)) for a, b in pairs}


def test_design_rule_graph_matches_snakemake(workdir):
    out = run_snakemake(workdir, "all", "--rulegraph", "mermaid-js").stdout
    names = dict(re.findall(r"^\s*(id\d+)\[(\w+)\]", out, re.M))
    actual = {edge for edge in edges_of(out, names) if edge[1] != "all"}
    design = (REPO / "docs/design.md").read_text()
    block = design.split("```mermaid", 1)[1].split("```", 1)[0]
    expected = "\n".join(["flowchart TB", *(f"    {a} --> {b}" for a, b in sorted(actual))])
    assert edges_of(block) == actual, f"update the mermaid block in docs/design.md to:\n{expected}"
