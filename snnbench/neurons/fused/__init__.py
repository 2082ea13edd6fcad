"""The fused paths: each neuron's whole sequence as one autograd node with a hand-written backward
through time (``<neuron>.py``), computing the equation of ``snnbench/neurons/<neuron>.py`` with
fewer passes over memory; the measured choices between exact variants (``autotune``); tanh from
one sigmoid (``fast_tanh``); the Triton scan kernels of LeakyParallel on CUDA (``triton_scan``).

Nothing here imports the neuron modules above it: they pass their parameters in.
"""
