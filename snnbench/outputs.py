"""Where a command may write, decided before it does any work; and what it has written.

The rules, checked by :func:`check` for every output a command names (``--json``, ``--markdown``,
``--png``, ``--trace``, ``merge``'s OUT, a baseline's file) before the command starts:

- An output is a regular file or a new file: never a directory, a device, a pipe or a socket.
- An output is never one of the command's inputs (a case file, a report being read, merged or
  gated, a baseline), compared as files: another name or a link to the same file counts.
- The outputs of one command are different files.
- An existing output is replaced only where the command allows it (``merge`` needs ``--force``).
- Its folder exists, or can be created, and is writable.

Writers (:func:`snnbench.results.write_bytes`) apply the same file-type rule again at the moment
they write, and record what they wrote here (:func:`written`), so that a command interrupted after
writing says so truthfully.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

from snnbench.errors import SnnbenchError

_written: list[str] = []


def forget_written() -> None:
    """Start a new command: nothing written yet."""
    _written.clear()


def record_written(path: Path) -> None:
    _written.append(str(path))


def written() -> list[str]:
    """The files this command has written so far, in order."""
    return list(_written)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def not_a_regular_file(path: Path) -> str | None:
    """Why ``path`` must not be written over (it exists and is not a regular file), or None."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return f"cannot be inspected ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    kind = ("a character device" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode)
            else "a pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    return f"is {kind}, not a regular file: snnbench writes only regular files"


def _folder_problem(path: Path) -> str | None:
    """Why no file can be created at ``path``, or None. Tried for real: a temporary file in its
    folder (or, where the folder is still to be made, a temporary folder in the nearest existing
    one), removed at once."""
    folder = path.absolute().parent
    missing = False
    while not folder.exists():
        if folder.is_symlink():
            return f"its folder {folder} is a broken link"
        folder, missing = folder.parent, True
    if not folder.is_dir():
        return f"{folder} is not a folder"
    try:
        if missing:
            os.rmdir(tempfile.mkdtemp(prefix=".snnbench-probe-", dir=folder))
        else:
            fd, probe = tempfile.mkstemp(prefix=".snnbench-probe-", dir=folder)
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        return f"cannot create {'a folder' if missing else 'a file'} in {folder} ({exc.strerror or exc})"
    return None


def check(outputs: Mapping[str, Path | str | None], inputs: Iterable[Path | str | None] = (),
          replace: bool = True) -> None:
    """Refuse, in one line, any output that breaks the rules above. ``outputs`` maps how the user
    named each output (``--json``, ``OUT``) to its path (None: not asked for); ``inputs`` are the
    files the command reads; ``replace`` says whether an existing file may be replaced."""
    given = {name: Path(p) for name, p in outputs.items() if p is not None}
    sources = {_identity(Path(p)): str(p) for p in inputs if p is not None}
    sources.pop(None, None)
    seen: dict[str, str] = {}
    for name, path in given.items():
        where = f"{name} {str(path)!r}" if str(path) in ("", ".") else f"{name} {path}"
        if not path.name or str(path) == ".":
            raise SnnbenchError(f"{where}: not a file name")
        why = not_a_regular_file(path)
        if why:
            raise SnnbenchError(f"{where}: {why}")
        same = _identity(path)
        if same is not None and same in sources:
            raise SnnbenchError(f"{where}: is an input of this command ({sources[same]}); "
                                "snnbench never writes over its inputs")
        if path.exists():
            if not replace:
                raise SnnbenchError(f"{where}: exists; pass --force to replace it")
            if not os.access(path, os.W_OK):
                raise SnnbenchError(f"{where}: exists and is not writable")
        why = _folder_problem(path)
        if why:
            raise SnnbenchError(f"{where}: cannot be written: {why}")
        key = str(path.resolve())
        if key in seen:
            raise SnnbenchError(f"{where}: the same file as {seen[key]}")
        seen[key] = where
