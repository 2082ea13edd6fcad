"""Every standard case on CUDA: ours on the GPU against the reference on the GPU.

Skipped where there is no CUDA device. Marked ``cuda`` so a GPU machine can run just these.
"""

import pytest
import torch

from snnbench import specs, verify
from equivalence import assert_equivalent, judge

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

STANDARD = [case for neuron in specs.names() for case in specs.standard_cases(neuron)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", STANDARD, ids=[f"{c.neuron}-{c.name}" for c in STANDARD])
def test_standard_case_is_equivalent_on_cuda(case, dtype):
    record = judge(case, dtype, device="cuda")
    assert record["device"] == "cuda"
    assert_equivalent(record)


def test_compare_switches_tf32_off_and_restores_it():
    saved = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    try:
        with verify.full_float32("cuda"):
            assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        assert torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32 = saved
