"""Speed of light: the unavoidable work of a case, as a callable timed beside ours and theirs.

An adapter says what its neuron cannot avoid (``Adapter.speed_of_light``); this module builds
the callables from two primitives, on pre-allocated operands so nothing but the work is timed:

- :func:`matmuls`: a chain of matrix products ``(m, k) @ (k, n)``, each ``repeat`` times (a
  recurrent product is repeated once per step: it cannot be merged across steps);
- :func:`copy_bytes`: a copy of as many elements as the neuron must read and write (input and
  outputs), for elementwise neurons whose cost is memory traffic.

An implementation's ``sol_ratio`` is its median time divided by this work's median time, taken
in the same run: 1 is the bound, larger is how far from it.
"""

from __future__ import annotations

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
