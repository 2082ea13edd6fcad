"""A/B against a git revision (gate --rev, bench --rev), the worker's side: real clones of this
repository, the worker serving an older snnbench, usage errors before any worker starts, and the code
the worker loads by path. (The judge on A/B reports: tests/gate/test_ab_judge.py.)

The real runs start two worker processes (each imports torch) and are marked slow; their cases
are small (a LeakyParallel of about a millisecond per call, one thread) so that a committed 10 ms
sleep is an unmistakable regression and an unchanged tree is an unmistakable pass. Speed itself
is never asserted beyond that margin."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from snnbench.cli import app

ROOT = Path(__file__).resolve().parents[2]
SMALL = """
[[case]]
name = "small"
bench = true
neuron = "leakyparallel"
steps = 20
batch = 8
sample_shape = [64]
seed = 1
[case.params]
input_size = 64
hidden_size = 128
beta = 0.5
threshold = 0.5
"""
FIRST_COMMIT = "5bba2a3"    # case files and an adapter, but no case_spec to read: too old to serve
ADAPTERS_API = "fac61d7"    # the last commit before the implementations: served through its adapters
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.name=snnbench tests", "-c",
                           "user.email=tests@example.invalid", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def clone(tmp_path, monkeypatch) -> Path:
    """A clone of this repository at its HEAD, as the current directory; the case file beside it."""
    repo = tmp_path / "repo"
    git(ROOT, "clone", "--quiet", str(ROOT), str(repo))
    (tmp_path / "cases.toml").write_text(SMALL)
    monkeypatch.chdir(repo)
    return repo


def commit_sleep(repo: Path) -> None:
    """A 10 ms sleep in LeakyParallel's whole-sequence call, committed."""
    path = repo / "snnbench" / "neurons" / "leaky_parallel.py"
    text = path.read_text()
    marker = '"""``spk, mem`` for a whole (L, N, H_in) or (L, H_in) sequence, from zero state."""\n'
    assert marker in text
    path.write_text(text.replace(marker, marker + "        __import__('time').sleep(0.01)\n"))
    git(repo, "commit", "--quiet", "-am", "a 10 ms sleep in LeakyParallel.sequence")


def small_gate(*args):
    cases = Path.cwd().parent / "cases.toml"
    return invoke("gate", *args, "leakyparallel", "--case-file", cases, "--mode", "forward", "--threads", "1",
                  "--min-time", "0.3", "--no-memory")


def worktrees(repo: Path) -> list[str]:
    return [ln for ln in git(repo, "worktree", "list", "--porcelain").splitlines() if ln.startswith("worktree ")]


@pytest.mark.slow
def test_a_committed_sleep_is_a_regression_naming_its_neuron(clone):
    commit_sleep(clone)
    result = small_gate("--rev", "HEAD~1", "--json", clone.parent / "ab.json")
    assert result.exit_code == 1, result.output
    summary = result.output.strip().splitlines()[-1]
    assert summary.startswith("gate REGRESSION (exit 1)") and "(leakyparallel)" in summary, summary
    report = json.loads((clone.parent / "ab.json").read_text())
    assert report["kind"] == "ab"
    assert report["revisions"]["base"]["commit"] == git(clone, "rev-parse", "HEAD~1")
    assert report["revisions"]["current"]["commit"] == git(clone, "rev-parse", "HEAD")
    assert report["revisions"]["current"]["dirty"] is False
    (record,) = report["results"]
    base, current = record["base"]["samples_s"], record["current"]["samples_s"]
    assert len(base) == len(current) == record["n_pairs"] >= 7
    assert record["ratios"] == pytest.approx([c / b for c, b in zip(current, base)])
    assert min(current) >= 0.01                      # every timed call of the working tree slept
    assert worktrees(clone) == [f"worktree {clone}"]  # the temporary worktree is gone


@pytest.mark.slow
def test_an_unchanged_tree_is_not_a_regression(clone):
    readme = clone / "README.md"
    readme.write_text(readme.read_text() + "\nA line that changes no code.\n")
    git(clone, "commit", "--quiet", "-am", "README only")
    result = small_gate("--rev", "HEAD~1")
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("gate OK (exit 0)")
    assert worktrees(clone) == [f"worktree {clone}"]


@pytest.mark.slow
def test_uncommitted_changes_are_the_current_side(clone):
    """The working tree as it is, not its HEAD: an uncommitted sleep is timed (and flagged dirty)."""
    commit_sleep(clone)
    git(clone, "reset", "--quiet", "--soft", "HEAD~1")          # the sleep is now uncommitted
    result = small_gate("--rev", "HEAD", "--json", clone.parent / "ab.json")
    assert result.exit_code == 1, result.output
    report = json.loads((clone.parent / "ab.json").read_text())
    assert report["revisions"]["current"]["dirty"] is True


@pytest.mark.slow
def test_a_revision_before_the_implementations_is_served_by_its_adapters(clone):
    result = invoke("bench", "leakyparallel", "--case-file", clone.parent / "cases.toml", "--mode", "all",
                    "--threads", "1", "--min-time", "0.2", "--rev", ADAPTERS_API, "--json", clone.parent / "ab.json")
    assert result.exit_code == 0, result.output
    report = json.loads((clone.parent / "ab.json").read_text())
    assert report["revisions"]["base"]["api"] == "adapters"
    assert report["revisions"]["current"]["api"] == "implementations"
    assert [r["mode"] for r in report["results"]] == ["forward", "train"]
    for r in report["results"]:
        assert r["base"]["error"] is None and r["current"]["error"] is None, r
        assert r["n_pairs"] >= 7 and r["base"]["peak_mem_bytes"] and r["current"]["peak_mem_bytes"]
    assert "leakyparallel" in result.output and "now/base" in result.output


@pytest.mark.slow
def test_a_revision_too_old_to_serve_is_one_line(clone):
    result = small_gate("--rev", FIRST_COMMIT)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "too old" in lines[0], result.stderr
    assert worktrees(clone) == [f"worktree {clone}"]


# ---------------------------------------------------------------- usage errors (no worker starts)

def one_line_error(result, needle: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], result.stderr


def test_an_unknown_revision_is_one_line(clone):
    one_line_error(small_gate("--rev", "no-such-branch"), "no such commit")
    assert worktrees(clone) == [f"worktree {clone}"]


def test_rev_outside_a_git_checkout_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "cases.toml").write_text(SMALL)
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    one_line_error(small_gate("--rev", "HEAD~1"), "not in a git repository")


def test_rev_times_ours_only(clone):
    result = invoke("bench", "leakyparallel", "--rev", "HEAD", "--impl", "reference")
    one_line_error(result, "--rev times our implementation")


def test_the_code_the_worker_loads_by_path_imports_no_snnbench():
    """The A/B worker loads timing.py and memory.py by their paths into a process whose snnbench
    is another revision's: an import of snnbench there would take the revision's (or fail on an
    older one), so neither may import snnbench at all."""
    import ast

    for name in ("timing", "memory"):
        tree = ast.parse((ROOT / "snnbench" / "bench" / f"{name}.py").read_text())
        imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module] + \
                   [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in imported if m.split(".")[0] == "snnbench"], name
