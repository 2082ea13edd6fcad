"""The Triton kernels of LeakyParallel's recurrence against the torch loop they replace.

Without a GPU they run in Triton's interpreter on CPU tensors: Triton reads TRITON_INTERPRET when
it is first imported, so those checks (triton_interpreted_checks.py) run in a fresh interpreter.
On a CUDA machine the kernels also run compiled. Skipped without Triton.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("triton")

from triton_interpreted_checks import fused_against_loop  # noqa: E402

HERE = Path(__file__).resolve().parent


def test_kernels_in_the_interpreter():
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    env.pop("SNNBENCH_NO_TRITON", None)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(HERE / "triton_interpreted_checks.py")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_leaky_parallel_fused_equals_its_torch_loop_on_cuda(monkeypatch, dtype):
    fused_against_loop(monkeypatch, "cuda", dtype)
