import os
import sys
from pathlib import Path

import pytest
import torch

# Tests live in one folder per layer (tests/neurons, equivalence, bench, gate, cli; see tests/README.md),
# without __init__.py: every test file's basename is unique across the tree. The helper modules
# (tiny.py, reports.py, equivalence.py, triton_interpreted_checks.py) stay here in tests/, which is
# put on the path so that a test in any layer imports them by name.
TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
for path in (ROOT, TESTS):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import tiny  # noqa: E402  (tests/ is on the path from here on)

# Bitwise-repeatable references need a fixed thread count (reference-notes.md, Determinism).
torch.set_num_threads(int(os.environ.get("SNNBENCH_TEST_THREADS", "2")))


@pytest.fixture
def write_cases(tmp_path):
    """Write a TOML case file and return its path."""

    def write(text: str, name: str = "cases.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def tiny_case_file(tmp_path) -> Path:
    """The shared tiny SLSTM case (tests/tiny.py) as a case file."""
    path = tmp_path / "tiny.toml"
    path.write_text(tiny.SLSTM)
    return path


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
