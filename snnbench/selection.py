"""Which neurons and cases a command runs: the neurons the installed libraries serve, and the
cases (a case file's, or the standard ones) picked by name, seed and shard."""

from __future__ import annotations

from pathlib import Path

from snnbench import limits, specs
from snnbench.cases import Case
from snnbench.errors import SnnbenchError


def available_neurons(neurons: list[str]) -> list[str]:
    """The named neurons ('all' expanded) that the installed libraries serve. One named outright
    that is not served is an error; inside 'all' it is left out (``unavailable_neurons`` says why)."""
    names, missing = specs.available(specs.resolve(neurons))
    for name, why in missing.items():
        if name in neurons:
            raise SnnbenchError(f"{name}: {why}")
    if not names:
        raise SnnbenchError("none of the named neurons is served by the installed libraries: "
                            + "; ".join(missing.values()))
    return names


def unavailable_neurons(neurons: list[str]) -> dict[str, str]:
    """The neurons of 'all' that the installed libraries do not serve, and why."""
    return specs.available(specs.resolve(neurons))[1]


def _names(names: list[str], wanted: str, limit: int = 8) -> str:
    """Known names for an error line: all of a few; of many, the closest to ``wanted`` and a count."""
    if len(names) <= limit:
        return ", ".join(names)
    import difflib

    close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.6)
    return f"{len(names)} cases; {'closest' if close else 'e.g.'}: {', '.join(close or names[:3])}"


def collect_cases(neurons: list[str], case_names: list[str] | None, case_file: Path | None,
                  seed: int | None = None, bench_only: bool = False,
                  shard: tuple[int, int] | None = None) -> list[Case]:
    """The cases to run: a case file's, or each neuron's standard ones (for a bench, those marked
    ``bench = true``); filtered by name."""
    names = available_neurons(neurons)
    if case_file is not None:
        pool = specs.load_cases(case_file, names)
        where = str(case_file)
        if not pool:
            raise SnnbenchError(f"{case_file}: no cases for {', '.join(names)}")
    else:
        pool = [c for n in names for c in specs.standard_cases(n)]
        where = "the standard cases of " + ", ".join(names)
    if case_names:
        known = {c.name for c in pool}
        unknown = [n for n in case_names if n not in known]
        if unknown:
            raise SnnbenchError(f"unknown case {unknown[0]!r} in {where} "
                                f"(known: {_names([c.name for c in pool], unknown[0])})")
        selected = [c for c in pool if c.name in case_names]
    else:
        # the bench flag picks among the standard cases; a case file's cases all run
        selected = [c for c in pool if c.bench] if bench_only and case_file is None else pool
    if seed is not None:
        try:
            limits.seed(seed)
        except ValueError as exc:
            raise SnnbenchError(f"--seed {exc}") from None
        selected = [c.with_seed(seed) for c in selected]
    if shard is not None:
        index, count = shard
        total = len(selected)
        selected = selected[index - 1::count]
        if not selected:
            raise SnnbenchError(f"--shard {index}/{count} holds no case ({total} case{'s' if total != 1 else ''} "
                                f"selected): use at most {total} shards")
    return selected
