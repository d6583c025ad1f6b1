"""The Snakemake workflow catalog's standardized layout: every report output captioned with valid
reStructuredText (workflow/report/), config/README.md describing every config section, and
.snakemake-workflow-catalog.yml."""

from __future__ import annotations

import ast
import copy
import io
import re
from itertools import product
from pathlib import Path
from types import SimpleNamespace

import jinja2
import pytest
import yaml
from conftest import REPO, beside_example_folders
from docutils import nodes
from docutils.core import publish_doctree
from snakemake.utils import update_config

from cbir.config import validate_config

RULES = REPO / "workflow" / "rules"
CAPTIONS = REPO / "workflow" / "report"
GLOBAL_CAPTION = CAPTIONS / "workflow.rst"
CONFIG = REPO / "config"
CATALOG = REPO / ".snakemake-workflow-catalog.yml"
DEPLOYMENTS = {"conda", "apptainer", "apptainer+conda", "singularity", "singularity+conda"}
# Wildcard values the captions are rendered with (every combination): both splits, a classifier
# and a restorer, an unrestored and a restored query set.
WILDCARDS = {
    "part": ["", "validation/"],
    "model": ["classifier", "classifier_robust", "denoiser"],
    "qset": ["noisy", "noisy__denoiser"],
    "query": ["noisy"],
}


def report_calls(text: str) -> list[tuple[int, ast.Call]]:
    """Every `report(...)` call of a rule file as (line number, parsed call). A call ends at the
    first closing parenthesis at which its text parses as a Python expression."""
    calls = []
    for match in re.finditer(r"(?<![\w.])report\(", text):
        start = match.start()
        for end in (m.end() for m in re.finditer(r"\)", text[start:])):
            try:
                tree = ast.parse(text[start : start + end], mode="eval")
            except SyntaxError:
                continue
            calls.append((text.count("\n", 0, start) + 1, tree.body))
            break
        else:
            raise AssertionError(f"unbalanced report( call at line {text.count(chr(10), 0, start) + 1}")
    return calls


def caption_problems(rule_file: Path, text: str) -> tuple[list[str], set[Path]]:
    """What is wrong with the report() calls of a rule file (a caption missing, not a string,
    pointing at a missing or empty file outside workflow/report/, or no category) and the
    caption files they name. Caption paths are relative to the rule file, as Snakemake reads them."""
    problems, used = [], set()
    for line, call in report_calls(text):
        where = f"{rule_file.name}:{line}"
        keywords = {k.arg: k.value for k in call.keywords}
        category = keywords.get("category")
        if not (isinstance(category, ast.Constant) and isinstance(category.value, str) and category.value):
            problems.append(f"{where}: report() without a category")
        caption = keywords.get("caption")
        if caption is None:
            problems.append(f"{where}: report() without a caption")
            continue
        if not (isinstance(caption, ast.Constant) and isinstance(caption.value, str)):
            problems.append(f"{where}: caption is not a plain string")
            continue
        path = (rule_file.parent / caption.value).resolve()
        if path.parent != CAPTIONS.resolve() or path.suffix != ".rst":
            problems.append(f"{where}: caption {caption.value} is not an .rst file in workflow/report/")
        elif not path.is_file():
            problems.append(f"{where}: caption {caption.value} does not exist")
        elif not path.read_text().strip():
            problems.append(f"{where}: caption {caption.value} is empty")
        else:
            used.add(path)
    return problems, used


def rst_problems(text: str) -> list[str]:
    """docutils' warnings and errors (level >= 2) on `text`, parsed as reStructuredText."""
    doctree = publish_doctree(
        text, settings_overrides={"report_level": 1, "halt_level": 5, "warning_stream": io.StringIO()}
    )
    return [message.astext() for message in doctree.findall(nodes.system_message) if message["level"] >= 2]


def configs() -> dict[str, dict]:
    """The validated config of the default run and of each overlay in config/ (merged over it)."""
    base = yaml.safe_load((CONFIG / "config.yaml").read_text())
    out = {"config.yaml": validate_config(copy.deepcopy(base))}
    for overlay in sorted(CONFIG.glob("*.yaml")):
        if overlay.name != "config.yaml":
            merged = copy.deepcopy(base)
            update_config(merged, yaml.safe_load(overlay.read_text()))
            out[overlay.name] = validate_config(merged)
    return out


def render(template: str, config: dict, wildcards: dict) -> str:
    """A caption as Snakemake's report renders it (a Jinja template with `snakemake`), undefined
    names an error."""
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    context = SimpleNamespace(config=config, wildcards=SimpleNamespace(**wildcards))
    return env.from_string(template).render(snakemake=context)


def rendered_captions() -> dict[Path, set[str]]:
    """Every caption file rendered under every shipped config and every wildcard combination."""
    combos = [dict(zip(WILDCARDS, values, strict=True)) for values in product(*WILDCARDS.values())]
    with beside_example_folders():
        shipped = configs().values()
    return {
        path: {render(path.read_text(), config, combo) for config in shipped for combo in combos}
        for path in sorted(CAPTIONS.glob("*.rst"))
    }


@pytest.fixture(scope="module")
def rendered():
    return rendered_captions()


# --- the checks themselves catch what they should ------------------------------------------------


def test_caption_check_flags_missing_and_broken_captions(tmp_path):
    text = (
        'rule a:\n    output:\n        report(f"{RESULTS}/a.png", category="A"),\n'
        'rule b:\n    output:\n        report("b.csv", caption="../report/nowhere.rst", category="B"),\n'
        'rule c:\n    output:\n        x=report("c.md", caption=CAPTION),\n'
    )
    problems, used = caption_problems(RULES / "fake.smk", text)
    assert len(problems) == 4 and not used, problems
    assert any("without a caption" in p for p in problems)
    assert any("does not exist" in p for p in problems)
    assert any("not a plain string" in p for p in problems)
    assert any("without a category" in p for p in problems)


def test_report_calls_handle_parentheses_in_strings():
    calls = report_calls('x = report("a(b).png", caption="../report/x.rst", category="A (b)")\nreport: "w.rst"\n')
    assert [call.args[0].value for _, call in calls] == ["a(b).png"]


def test_rst_check_flags_broken_markup():
    assert rst_problems("A caption with **bold** and ``code``.") == []
    assert rst_problems("A caption with **unclosed bold.")
    assert rst_problems(".. no-such-directive:: x")


def test_render_flags_unknown_names():
    with pytest.raises(jinja2.UndefinedError):
        render('{{ snakemake.config["no_such_key"] }}', {"run": "demo"}, {})
    with pytest.raises(jinja2.UndefinedError):
        render("{{ snakemake.wildcards.sample }}", {}, {"part": ""})


# --- the workflow ---------------------------------------------------------------------------------


def test_every_report_output_has_a_caption():
    problems, calls = [], 0
    for rule_file in sorted(RULES.glob("*.smk")):
        text = rule_file.read_text()
        calls += len(report_calls(text))
        problems += caption_problems(rule_file, text)[0]
    assert calls >= 19, f"only {calls} report() calls found: did the parsing break?"
    assert problems == []


def test_every_caption_file_is_used():
    used = set()
    for rule_file in sorted(RULES.glob("*.smk")):
        used |= caption_problems(rule_file, rule_file.read_text())[1]
    unused = {p.name for p in CAPTIONS.glob("*.rst")} - {p.name for p in used} - {GLOBAL_CAPTION.name}
    assert unused == set(), f"caption files no report() names: {sorted(unused)}"


def test_captions_render_to_valid_rst(rendered):
    assert GLOBAL_CAPTION in rendered, "workflow/report/workflow.rst (the report's description) is missing"
    for path, texts in rendered.items():
        for text in texts:
            assert len(text.split()) >= 30, f"{path.name}: a caption of {len(text.split())} words"
            assert "{{" not in text and "{%" not in text, f"{path.name}: unrendered Jinja"
            problems = rst_problems(text)
            assert problems == [], f"{path.name}: {problems}\n{text}"


def test_captions_name_their_split(rendered):
    """Captions of tables written for both splits say which one they show."""
    for name in ["table1.rst", "queries.rst", "retrieval_csv.rst", "enhancement_md.rst", "enhancement_csv.rst"]:
        texts = rendered[CAPTIONS / name]
        assert any("**test split**" in t for t in texts) and any("**validation split**" in t for t in texts), name


def test_global_report_directive_points_at_the_description():
    """The Snakefile's `report:` directive: the report's front page."""
    snakefile = REPO / "workflow" / "Snakefile"
    assert not (REPO / "Snakefile").exists(), "the catalog layout has no root Snakefile"
    match = re.search(r'^report:\s*"([^"]+)"', snakefile.read_text(), re.M)
    assert match, f"{snakefile.relative_to(REPO)} has no global `report:` directive"
    assert (snakefile.parent / match.group(1)).resolve() == GLOBAL_CAPTION.resolve()


def test_config_readme_describes_every_section():
    readme = (CONFIG / "README.md").read_text()
    config = yaml.safe_load((CONFIG / "config.yaml").read_text())
    undescribed = [key for key in config if not re.search(rf"^\| `{re.escape(key)}` \|", readme, re.M)]
    assert undescribed == [], f"config/README.md has no table row for {undescribed}"
    unnamed = [p.name for p in CONFIG.glob("*.yaml") if f"`config/{p.name}`" not in readme]
    assert unnamed == [], f"config/README.md does not name {unnamed}"


def test_catalog_settings():
    settings = yaml.safe_load(CATALOG.read_text())
    usage = settings["usage"]
    assert set(usage) == {"mandatory-flags", "software-stack-deployment", "report"}
    flags = usage["mandatory-flags"]
    assert isinstance(flags["desc"], str) and flags["desc"].strip()
    assert isinstance(flags["flags"], str | list)
    deployment = usage["software-stack-deployment"]
    assert set(deployment) <= DEPLOYMENTS and all(isinstance(v, bool) for v in deployment.values()), deployment
    assert usage["report"] is True
    # honest: a deployment method is claimed only if some rule declares it
    rules = "\n".join(p.read_text() for p in RULES.glob("*.smk"))
    if not re.search(r"^\s+conda:", rules, re.M):
        assert not deployment.get("conda") and not deployment.get("apptainer+conda")
    if not re.search(r"^\s*(container|singularity):", rules, re.M):
        assert not deployment.get("apptainer") and not deployment.get("singularity")
