"""Speed of light: the unavoidable work of a case, as a callable timed beside ours and theirs.

A neuron's spec says what it cannot avoid (``NeuronSpec.speed_of_light``); this module builds
the callables from two primitives, on pre-allocated operands so nothing but the work is timed:

- :func:`matmuls`: a chain of matrix products ``(m, k) @ (k, n)``, each ``repeat`` times (a
  recurrent product is repeated once per step: it cannot be merged across steps);
- :func:`convs`: a chain of 2-D convolutions (forward, grad of the input or grad of the weight,
  the three calls a conv layer's forward and backward make), each ``repeat`` times;
- :func:`copy_bytes`: a copy of as many elements as the neuron must read and write (input and
  outputs), for elementwise neurons whose cost is memory traffic.

An implementation's ``sol_ratio`` is its median time divided by this work's median time, taken
in the same run: 1 is the bound, larger is how far from it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class MatMul:
    m: int
    k: int
    n: int
    repeat: int = 1

    @property
    def flops(self) -> int:
        return 2 * self.m * self.k * self.n * self.repeat


CONV_KINDS = ("forward", "input_grad", "weight_grad")


@dataclass(frozen=True)
class Conv:
    """A stride-1, "same"-padded (k // 2) convolution of ``batch`` frames (c_in, h, w) -> (c_out, h, w)
    with a (kh, kw) kernel: its forward, its grad w.r.t. the input, or w.r.t. the weight (and bias)."""
    batch: int
    c_in: int
    c_out: int
    h: int
    w: int
    kh: int
    kw: int
    kind: str = "forward"
    repeat: int = 1

    @property
    def flops(self) -> int:
        """Each of the three is the same multiply-adds: one per (frame, out pixel, c_out, c_in, tap)."""
        return 2 * self.batch * self.h * self.w * self.c_out * self.c_in * self.kh * self.kw * self.repeat


class Work:
    """A callable doing the unavoidable work, with a one-line description of what it is."""

    def __init__(self, fn: Callable[[], None], description: str, flops: int = 0, bytes_moved: int = 0):
        self.fn = fn
        self.description = description
        self.flops = flops
        self.bytes_moved = bytes_moved

    def __call__(self) -> None:
        self.fn()


def _operand(shape: tuple[int, ...], dtype: torch.dtype, device: str, gen: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)


def matmuls(products: list[MatMul], dtype: torch.dtype, device: str, what: str = "") -> Work:
    gen = torch.Generator().manual_seed(0)
    operands = [(_operand((p.m, p.k), dtype, device, gen), _operand((p.k, p.n), dtype, device, gen),
                 torch.empty((p.m, p.n), dtype=dtype, device=device), p.repeat) for p in products]

    def run() -> None:
        for a, b, out, repeat in operands:
            for _ in range(repeat):
                torch.mm(a, b, out=out)

    flops = sum(p.flops for p in products)
    shapes = ", ".join(f"({p.m}x{p.k})@({p.k}x{p.n})" + (f" x{p.repeat}" if p.repeat > 1 else "")
                       for p in products)
    return Work(run, f"{what + ': ' if what else ''}{flops / 1e9:.3g} GFLOP of matmuls: {shapes}", flops=flops)


def _conv_call(c: Conv, dtype: torch.dtype, device: str, gen: torch.Generator,
               memory_format: torch.memory_format) -> Callable[[], None]:
    """One call of ``c`` on pre-allocated operands: F.conv2d for the forward, and for the grads
    aten.convolution_backward, which is what autograd runs for F.conv2d's backward."""
    frames = _operand((c.batch, c.c_in, c.h, c.w), dtype, device, gen).contiguous(memory_format=memory_format)
    weight = _operand((c.c_out, c.c_in, c.kh, c.kw), dtype, device, gen).contiguous(memory_format=memory_format)
    padding = [c.kh // 2, c.kw // 2]
    if c.kind == "forward":
        bias = _operand((c.c_out,), dtype, device, gen)
        return lambda: torch.nn.functional.conv2d(frames, weight, bias, padding=padding)
    grad_out = _operand((c.batch, c.c_out, c.h, c.w), dtype, device, gen).contiguous(memory_format=memory_format)
    mask = [True, False, False] if c.kind == "input_grad" else [False, True, True]
    return lambda: torch.ops.aten.convolution_backward(grad_out, frames, weight, [c.c_out], [1, 1], padding,
                                                       [1, 1], False, [0, 0], 1, mask)


def _median_seconds(fn: Callable[[], None], repeats: int, device: str) -> float:
    def synced() -> None:
        fn()
        if device != "cpu":
            torch.cuda.synchronize()

    synced()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        synced()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def convs(products: list[Conv], dtype: torch.dtype, device: str, what: str = "") -> Work:
    """The convolutions, in the faster of the two memory layouts (NCHW or channels-last).

    Which layout is faster depends on the shapes, dtype and machine (on CPU, oneDNN's
    channels-last kernels can be several times faster for few channels), and an implementation
    may use either, so the bound is the faster one: both are timed briefly here and the faster
    is kept (named in the description)."""
    for c in products:
        if c.kind not in CONV_KINDS:
            raise ValueError(f"Conv kind must be one of {', '.join(CONV_KINDS)}, got {c.kind!r}")
    candidates = {}
    for name, memory_format in (("NCHW", torch.contiguous_format), ("channels-last", torch.channels_last)):
        gen = torch.Generator().manual_seed(0)
        calls = [(_conv_call(c, dtype, device, gen, memory_format), c.repeat) for c in products]

        def run(calls=calls) -> None:
            for call, repeat in calls:
                for _ in range(repeat):
                    call()

        candidates[name] = run
    timed = {name: _median_seconds(run, 3, device) for name, run in candidates.items()}
    layout = min(timed, key=timed.get)
    flops = sum(c.flops for c in products)
    shapes = ", ".join(f"{c.kind} ({c.batch}x{c.c_in}x{c.h}x{c.w})->{c.c_out} k{c.kh}x{c.kw}"
                       + (f" x{c.repeat}" if c.repeat > 1 else "") for c in products)
    return Work(candidates[layout], f"{what + ': ' if what else ''}{flops / 1e9:.3g} GFLOP of convolutions "
                                    f"({layout}): {shapes}", flops=flops)


def copy_bytes(numel: int, dtype: torch.dtype, device: str, passes: int = 1, what: str = "") -> Work:
    src = torch.zeros(numel, dtype=dtype, device=device)
    dst = torch.empty_like(src)

    def run() -> None:
        for _ in range(passes):
            dst.copy_(src)

    size = numel * src.element_size()
    return Work(run, f"{what + ': ' if what else ''}copy of {size / 1e6:.3g} MB"
                     + (f" x{passes}" if passes > 1 else ""), bytes_moved=2 * size * passes)


def together(works: list[Work], what: str = "") -> Work:
    """Several works done one after the other, as one (e.g. matmuls and the elementwise bytes)."""

    def run() -> None:
        for work in works:
            work()

    return Work(run, (what + ": " if what else "") + " + ".join(w.description for w in works),
                flops=sum(w.flops for w in works), bytes_moved=sum(w.bytes_moved for w in works))
