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

HERE = Path(__file__).resolve().parents[1]     # tests/, where the helper modules live


@pytest.mark.slow
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


@pytest.mark.parametrize("dtype", ["fp32", "fp64"])
@pytest.mark.parametrize("carry", [False, True])
def test_kernels_compile_for_hopper_without_a_gpu(dtype, carry):
    """Triton's compiler and its bundled ptxas build the kernels to an sm_90 cubin with no GPU
    present: what the interpreter cannot show (types, loops, NaN handling lowered to PTX)."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from snnbench.neurons.fused import triton_scan

    scalars = {"T": "i32", "N": "i32", "H": "i32", "BLOCK_N": "constexpr"}
    kernels = {
        triton_scan._relu_decay_forward: ({"a_ptr": f"*{dtype}", "prev_ptr": f"*{dtype}", "decay_ptr": f"*{dtype}",
                                           **scalars, "HAS_PREV": "constexpr"}, "HAS_PREV"),
        triton_scan._relu_decay_backward: ({"g_ptr": f"*{dtype}", "mem_ptr": f"*{dtype}", "next_ptr": f"*{dtype}",
                                            "decay_ptr": f"*{dtype}", **scalars, "HAS_NEXT": "constexpr"}, "HAS_NEXT"),
    }
    for kernel, (signature, flag) in kernels.items():
        source = ASTSource(fn=kernel, signature=signature, constexprs={flag: carry, "BLOCK_N": triton_scan.BLOCK})
        compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32))
        assert compiled.asm["cubin"] and ".visible .entry" in compiled.asm["ptx"]
