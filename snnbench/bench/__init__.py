"""Benchmarks: ours against the reference, timed interleaved, with real peak memory.

Modules, one idea each: ``stats`` (median, IQR, bootstrap), ``workload`` (the call one sample
times: one full sequence of a case, forward or train), ``timing`` (warm-up, interleaved repeats,
CPU clock or CUDA events), ``memory`` (peak memory: a fresh subprocess per measurement on the CPU,
the allocator's peak on CUDA), ``sol`` (speed of light: the unavoidable work of a case),
``runner`` (cases -> result records and paired comparisons), ``ab`` and ``ab_worker`` (two
revisions timed in one run, each in its own worker process), ``noise`` (how busy the machine was),
``sweep`` and ``plot`` (one parameter varied), ``profile`` (torch.profiler over one case). Tables
and markdown are in :mod:`snnbench.render`.
"""
