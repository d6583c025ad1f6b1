"""`cbir` is an installed package: importable from any folder, its schema shipped inside it,
the `cbir` command on the venv's PATH, and no module of the project puts a path on sys.path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_importable_from_anywhere_with_its_schema(tmp_path):
    code = "import cbir, cbir.config as c; print(cbir.__file__); print(c.SCHEMA_PATH.is_file())"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, check=True
    ).stdout.split()
    assert Path(out[0]) == REPO / "src" / "cbir" / "__init__.py" and out[1] == "True"


def test_the_cbir_command_is_installed(tmp_path):
    command = Path(sys.executable).parent / "cbir"
    proc = subprocess.run([command, "runs", "--help"], cwd=tmp_path, env=_clean_env(), capture_output=True, text=True)
    assert proc.returncode == 0 and "usage: cbir runs" in proc.stdout


def test_no_sys_path_inserts_left():
    roots = ["src", "workflow", "benchmarks", "tests", "examples"]
    files = [p for root in roots for p in (REPO / root).rglob("*") if p.suffix in (".py", ".smk")]
    files.append(REPO / "workflow" / "Snakefile")
    # cluster/'s tools are scripts that import each other (and their tests import them), not cbir
    offenders = [
        f"{p.relative_to(REPO)}: {line.strip()}"
        for p in files
        if p.name != "test_package.py"
        for line in p.read_text().splitlines()
        if "sys.path.insert" in line and "cluster" not in line
    ]
    assert offenders == [], f"sys.path inserts: {offenders}"
