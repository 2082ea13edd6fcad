"""snntorch's SLSTM, SConv2dLSTM and LeakyParallel as reference implementations.

SLSTM and SConv2dLSTM are called one step at a time; the trace holds the state the module itself
holds after each step (what the next step reads). LeakyParallel returns only spikes: its membrane
is captured truthfully with a forward hook on its ``rnn`` submodule during the very call that
produces the spikes (``output[0]``, the tensor the reference subtracts the threshold from, so
gradients of the membrane flow through the reference's own graph). As a check that this is the
right tensor, the spikes are recomputed from it (``(mem - threshold > 0) * graded_spikes_factor``)
and must equal the returned ones exactly, or the run is an error.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from snnbench.cases import Case
from snnbench.departures.probes import rnn_output
from snnbench.implementations.reference import ReferenceImplementation
from snnbench.specs.base import Trace


def clear_instances() -> None:
    """snntorch appends every neuron to ``SpikingNeuron.instances`` and never removes it; a
    process that builds many references would grow without bound."""
    from snntorch._neurons.neurons import SpikingNeuron

    SpikingNeuron.instances.clear()


class SnntorchReference(ReferenceImplementation):
    def cleanup(self, module) -> None:
        clear_instances()


class SnntorchCellReference(SnntorchReference):
    """SLSTM and SConv2dLSTM: ``spk, syn, mem = m(x_t, syn, mem)``, or the held state with init_hidden."""

    def run_reference(self, module, x, state0) -> Trace:
        """Both states are always passed (0.7.0 keeps no state without init_hidden; later releases
        would reuse the stored one), and read from the call's return; with init_hidden they are set
        on the module and read back from it (every release keeps .spk, .syn, .mem then)."""
        spikes, syns, mems = [], [], []
        syn, mem = state0["syn"], state0["mem"]
        if module.init_hidden:
            module.syn, module.mem = syn, mem
        for t in range(x.shape[0]):
            if module.init_hidden:
                module(x[t])
                spk, syn, mem = module.spk, module.syn, module.mem
            else:
                spk, syn, mem = module(x[t], syn, mem)
            spikes.append(spk)
            syns.append(syn)
            mems.append(mem)
        return {"spk": torch.stack(spikes), "syn": torch.stack(syns), "mem": torch.stack(mems)}

    def gradient_precision(self, case: Case, dtype: str) -> dict[str, str]:
        if dtype != "float64":
            return {}
        if self.spec.float32_surrogate_grad(case) or case.params.get("state_quant"):
            return {"*": "float32"}       # float32 spike gradients, or float32 quantised states
        return {"threshold": "float32"} if self.spec.float32_threshold_grad(case) else {}


class SLSTMReference(SnntorchCellReference):
    def margin(self, module, trace: Trace) -> torch.Tensor:
        return trace["mem"].detach() - module.threshold.detach()

    def backward_failure(self, case: Case, device: str, error: Exception) -> str | None:
        if (device.startswith("cuda") and case.params.get("reset_mechanism") == "zero"
                and "modified by an inplace operation" in str(error)):
            return ("reset_mechanism='zero' cannot train on CUDA: _base_zero subtracts in place "
                    "(syn -= ...) from the cell state that the fused CUDA LSTM cell saved for its "
                    "backward, so backward raises; gradients cannot be compared")
        return None


class SConv2dLSTMReference(SnntorchCellReference):
    def margin(self, module, trace: Trace) -> torch.Tensor:
        """What the reference fires on, minus its threshold, shaped like the spikes: with pooling
        that is the pooled mem (quantised once more with state_quant), not mem itself."""
        mem = trace["mem"].detach()
        fired = mem.reshape(-1, *mem.shape[2:])
        if module.max_pool:
            fired = F.max_pool2d(fired, module.max_pool)
        elif module.avg_pool:
            fired = F.avg_pool2d(fired, module.avg_pool)
        if module.state_quant:
            fired = module.state_quant(fired)
        fired = fired.reshape(*mem.shape[:2], *fired.shape[1:])
        return fired - module.threshold.detach()


class LeakyParallelReference(SnntorchReference):
    def run_reference(self, module, x, state0) -> Trace:
        spk, mem = rnn_output(module, x)
        again = (mem.detach() - module.threshold.detach() > 0).to(spk.dtype) * module.graded_spikes_factor.detach()
        if not torch.equal(again, spk.detach()):
            raise RuntimeError("the captured rnn output does not reproduce the reference's spikes")
        return {"spk": spk, "mem": mem}

    def margin(self, module, trace: Trace) -> torch.Tensor:
        return trace["mem"].detach() - module.threshold.detach()

    def gradient_precision(self, case: Case, dtype: str) -> dict[str, str]:
        if dtype != "float64" or not self.spec.spikes_carry_gradient(case):
            return {}
        return {"*": "float32"}
