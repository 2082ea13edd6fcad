"""Git revisions of an snnbench checkout, for the A/B comparison (``--rev REV``).

:func:`checkout` finds the repository of the current directory and the working tree's commit;
:func:`temporary_worktree` checks REV out with ``git worktree add --detach`` into a temporary
folder and removes it (``git worktree remove --force``, then the folder) when the block ends,
whether it ends normally, by an error, by Ctrl-C or by SIGTERM (a cancelled CI job).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from snnbench.errors import SnnbenchError


@dataclass(frozen=True)
class Tree:
    """A tree of snnbench source: where it is, which commit, and whether it differs from it."""

    path: Path
    rev: str            # what the user named ("HEAD~1"), or "working tree"
    commit: str | None
    dirty: bool = False

    def record(self) -> dict:
        return {"rev": self.rev, "commit": self.commit, "dirty": self.dirty}

    @property
    def label(self) -> str:
        short = (self.commit or "?")[:10] + ("+dirty" if self.dirty else "")
        return f"{self.rev} ({short})" if self.rev != self.commit else short


def _git(repo: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise SnnbenchError("--rev needs git, and git is not installed") from None
    except subprocess.TimeoutExpired:
        raise SnnbenchError(f"git {' '.join(args)} took over {timeout:g} s") from None


def _first_line(done: subprocess.CompletedProcess) -> str:
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[0].removeprefix("fatal: ").strip() if lines else f"exit {done.returncode}"


def checkout(where: Path | None = None) -> Tree:
    """The working tree of the git repository holding ``where`` (default: the current directory),
    which must be an snnbench checkout."""
    where = Path.cwd() if where is None else where
    top = _git(where, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise SnnbenchError(f"--rev compares revisions of a git checkout of snnbench; {where} is not in a git "
                            f"repository ({_first_line(top)})")
    root = Path(top.stdout.strip())
    if not (root / "snnbench" / "__init__.py").is_file():
        raise SnnbenchError(f"--rev compares revisions of a git checkout of snnbench; {root} holds no "
                            "snnbench/__init__.py")
    head = _git(root, "rev-parse", "--verify", "-q", "HEAD")
    commit = head.stdout.strip() if head.returncode == 0 else None
    # dirty: the snnbench package differs from the commit (a changed file, or a new one not yet added)
    status = _git(root, "status", "--porcelain", "--", "snnbench")
    return Tree(root, "working tree", commit, bool(status.stdout.strip()) or commit is None)


def resolve(repo: Path, rev: str) -> str:
    """REV as a full commit id; one line if it names no commit of the repository."""
    if not rev.strip() or rev.startswith("-"):
        raise SnnbenchError(f"--rev '{rev}' is not a revision")
    done = _git(repo, "rev-parse", "--verify", "-q", f"{rev}^{{commit}}")
    if done.returncode != 0:
        hint = " (a shallow clone? fetch the history: actions/checkout with fetch-depth: 0)" \
            if (repo / ".git" / "shallow").exists() or _is_shallow(repo) else ""
        raise SnnbenchError(f"--rev {rev}: no such commit in {repo}{hint}")
    return done.stdout.strip()


def _is_shallow(repo: Path) -> bool:
    done = _git(repo, "rev-parse", "--is-shallow-repository")
    return done.stdout.strip() == "true"


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt inside the block (so clean-up runs), where it can be set."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def temporary_worktree(repo: Path, rev: str) -> Iterator[Tree]:
    """REV checked out (detached) in a temporary folder for the duration of the block."""
    commit = resolve(repo, rev)
    folder = Path(tempfile.mkdtemp(prefix="snnbench-rev-"))
    path = folder / "tree"
    with _terminate_as_interrupt():
        try:
            _git(repo, "worktree", "prune")
            done = _git(repo, "worktree", "add", "--detach", "--quiet", str(path), commit, timeout=300)
            if done.returncode != 0:
                raise SnnbenchError(f"--rev {rev}: git worktree add failed: {_first_line(done)}")
            yield Tree(path, rev, commit)
        finally:
            if path.exists():
                _git(repo, "worktree", "remove", "--force", str(path))
            shutil.rmtree(folder, ignore_errors=True)
            _git(repo, "worktree", "prune")
