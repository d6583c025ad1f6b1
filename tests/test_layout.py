"""The library's shape: small modules, layers that import only downward, no cycles."""

from __future__ import annotations

import ast
import re

from conftest import REPO

LIBRARY = REPO / "src" / "cbir"
MAX_LINES = 400
# Layer of each top-level module or package; stages sit on top and only the command line (the
# user's entry point, as the rule scripts are the workflow's) imports them.
LAYERS = {
    **dict.fromkeys(
        ["seeding", "imagemath", "fsutil", "runlog", "config", "config_checks", "tuning", "calibration"], 0
    ),  # base
    **dict.fromkeys(["layout", "run_plan", "blind_plan", "kinds"], 0),  # base too: the names and paths of a run
    **dict.fromkeys(["norb", "h5store", "download"], 1),  # file formats
    "stages": 3,
    "cli": 4,
}
COMPUTE = 2  # everything else: pure computation on arrays and tensors


def module_name(path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    return LAYERS.get(module.split(".")[1] if "." in module else "", COMPUTE)


def imports(path) -> set[str]:
    """cbir modules imported anywhere in the file (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "cbir":
            found.add(node.module)
            for alias in node.names:  # `from cbir.plots import training` imports a module
                candidate = f"{node.module}.{alias.name}"
                if (LIBRARY.parent / candidate.replace(".", "/")).with_suffix(".py").exists():
                    found.add(candidate)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "cbir"}
    return found - {"cbir"}


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in sorted(LIBRARY.rglob("*.py"))}


def test_no_library_module_over_the_line_cap():
    long = {
        str(p.relative_to(LIBRARY)): n
        for p in LIBRARY.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_layers_import_only_downward():
    wrong = []
    for module, targets in graph().items():
        for target in targets:
            if target.startswith(module + ".") or module.startswith(target + "."):
                continue  # a package and its own modules
            upward = layer(target) > layer(module)
            # Computation never touches files: it does not import the format modules either.
            reads_files = layer(module) == COMPUTE and layer(target) == 1
            if upward or reads_files:
                wrong.append(f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})")
    assert not wrong, "\n".join(wrong)


def test_import_graph_is_acyclic():
    edges = graph()
    state: dict[str, int] = {}

    def visit(node, trail):
        if state.get(node) == 1:
            raise AssertionError("import cycle: " + " -> ".join([*trail, node]))
        if state.get(node) == 2:
            return
        state[node] = 1
        for target in edges.get(node, ()):
            if target != node and not node.startswith(target + "."):  # a module's own package __init__
                visit(target, [*trail, node])
        state[node] = 2

    for module in edges:
        visit(module, [])


def test_rule_scripts_call_only_stage_functions():
    for script in (REPO / "workflow" / "scripts").glob("*.py"):
        text = script.read_text()
        cbir_imports = re.findall(r"^from (cbir\.\S+) import", text, re.M)
        assert set(cbir_imports) - {"cbir.runlog"}, f"{script.name} imports no stage"
        assert all(m == "cbir.runlog" or m.startswith("cbir.stages.") for m in cbir_imports), (
            script.name,
            cbir_imports,
        )


def test_no_references_to_design_sections_outside_the_repository():
    hits = []
    for path in [*REPO.glob("workflow/**/*"), *REPO.glob("tests/**/*.py"), *REPO.glob("benchmarks/*.py")]:
        if path.is_file() and path.suffix in {".py", ".smk", ".yaml"} and path.name != "test_layout.py":
            hits += [
                f"{path.name}:{i}"
                for i, line in enumerate(path.read_text().splitlines(), 1)
                if "DESIGN section" in line
            ]
    assert not hits, hits


# A restored set's name built from its parts: SEPARATOR in an f-string field or a concatenation,
# a literal "__" concatenated or joined, or "__" between two f-string fields or wildcards.
RESTORED_NAME_BUILT = re.compile(
    r"\{SEPARATOR\b|\bSEPARATOR\}|SEPARATOR\s*\+|\+\s*SEPARATOR|SEPARATOR\.join"
    r"|[\"']__[\"']\s*\+|\+\s*[\"']__[\"']|[\"']__[\"']\.join|\}__\{"
)


def test_restored_names_are_built_only_in_layout():
    """<query>__<enhancer> is built by cbir.layout alone (`restored_name`, `SEPARATOR`): every
    other module and rule calls it, so the name cannot drift between writer and reader."""
    own = LIBRARY / "layout.py"
    hits = []
    for root, pattern in [(LIBRARY, "*.py"), (REPO / "workflow", "*.py"), (REPO / "workflow", "*.smk")]:
        for path in sorted(root.rglob(pattern)):
            if path == own:
                continue
            hits += [
                f"{path.relative_to(REPO)}:{i}: {line.strip()}"
                for i, line in enumerate(path.read_text().splitlines(), 1)
                if RESTORED_NAME_BUILT.search(line)
            ]
    assert not hits, "build restored names with cbir.layout.restored_name:\n" + "\n".join(hits)
