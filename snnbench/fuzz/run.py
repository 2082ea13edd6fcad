"""Property-based differential testing: random valid cases, each judged like ``compare`` judges.

For each neuron, hypothesis draws cases from :mod:`snnbench.fuzz.strategies` and each is compared
in every asked dtype (the judged implementation against the reference). The property: no case
fails or errors, and no case the reference runs is refused by snnbench's own validation. When a
case breaks it, hypothesis shrinks it to the smallest case that still breaks it, and that case is
written as a case file that ``snnbench compare NEURON --case-file FILE`` reproduces.

Determinism: the cases come in batches of ``BATCH`` from hypothesis runs seeded by (seed, neuron,
batch number), so the same seed gives the same sequence of cases; the budget only decides how far
along it a run gets. The time budget is shared equally between the neurons; shrinking a failure
may run past it.
"""

from __future__ import annotations

import json
import time
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import seed as hypothesis_seed

from snnbench import cases, env, implementations, inputs, results, specs, verify
from snnbench.errors import CaseError
from snnbench.fuzz.strategies import STRATEGIES

BATCH = 8                  # cases per hypothesis run
FAILING = ("fail", "error")


class Broken(AssertionError):
    """A case that breaks the property (the message says how)."""


@dataclass
class NeuronRun:
    neuron: str
    cases: int = 0
    refused: int = 0
    verdicts: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0
    failure: dict | None = None
    digest: int = 0            # of the sequence of cases judged: the same seed gives the same digest

    def count(self, dtype: str, verdict: str) -> None:
        per = self.verdicts.setdefault(dtype, {})
        per[verdict] = per.get(verdict, 0) + 1


def _reference_runs(case) -> bool:
    """Whether the reference builds and runs a case (a draw our own validation refused)."""
    reference = implementations.reference(case.neuron)
    short = case.with_sizes(steps=min(case.steps, 2))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = reference.build(short, torch.float32, "cpu")
            try:
                x = inputs.make_input(short, torch.float32, "cpu")
                reference.run(module, x, reference.spec.initial_state(short, torch.float32, "cpu"))
            finally:
                reference.cleanup(module)
    except Exception:
        return False
    return True


def check_case(raw: dict, impl_value: str, dtypes: list[str], run: NeuronRun) -> list[dict]:
    """Judge one drawn case in every dtype; raise Broken where it breaks the property."""
    try:
        case = cases.parse_case(raw, "fuzz", 0)
    except CaseError:
        assume(False)                    # a draw of the common keys that is not valid: not a case
    try:
        specs.check(case)
    except CaseError as exc:
        if _reference_runs(case):
            run.refused += 1
            raise Broken(f"refused a valid option: {exc}") from None
        assume(False)                    # the reference rejects it too: not a valid case
    (judged,) = implementations.select([impl_value], [case.neuron])[case.neuron]
    reference = implementations.reference(case.neuron)
    records = [verify.compare(case, dtype, "cpu", judged, reference) for dtype in dtypes]
    run.cases += 1
    run.digest = zlib.crc32(json.dumps(raw, sort_keys=True).encode(), run.digest)
    for record in records:
        run.count(record["dtype"], record["verdict"])
    bad = [r for r in records if r["verdict"] in FAILING]
    if bad:
        raise Broken("; ".join(f"{r['dtype']} {r['verdict']}: {r['reason']}" for r in bad))
    return records


def _batch_seed(seed: int, neuron: str, batch: int) -> int:
    return zlib.crc32(f"{seed}/{neuron}/{batch}".encode())


def search(neuron: str, seed: int, budget_s: float, impl_value: str, dtypes: list[str],
           on_case: Callable[[NeuronRun], None] | None = None, max_cases: int | None = None) -> NeuronRun:
    """Draw and judge cases of one neuron until the budget is spent (or, with ``max_cases``, that
    many cases are judged, rounded up to whole batches) or a case breaks the property; that case,
    shrunk, is the run's ``failure`` ({case: raw table, reason})."""
    run = NeuronRun(neuron)
    started = time.monotonic()
    last: dict[str, Any] = {}

    def body(raw):
        try:
            check_case(raw, impl_value, dtypes, run)
        except Broken as exc:
            last.update(case=raw, reason=str(exc))     # the shrunk case is the last one to fail
            raise
        finally:
            if on_case:
                on_case(run)

    batch = 0
    while time.monotonic() - started < budget_s and (max_cases is None or run.cases < max_cases):
        test = settings(max_examples=BATCH, database=None, deadline=None, derandomize=False,
                        phases=[Phase.generate, Phase.shrink], report_multiple_bugs=False, print_blob=False,
                        suppress_health_check=list(HealthCheck))(given(STRATEGIES[neuron])(body))
        test = hypothesis_seed(_batch_seed(seed, neuron, batch))(test)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                test()
        except Broken:
            run.failure = dict(last)
            break
        except Exception as exc:         # hypothesis gave up on a batch (e.g. too many invalid draws)
            if type(exc).__name__ not in ("Unsatisfiable", "FailedHealthCheck"):
                raise
        batch += 1
    run.seconds = round(time.monotonic() - started, 3)
    return run


def write_case(raw: dict, neuron: str, seed: int, reason: str, out_dir: Path) -> Path:
    """The shrunk case as a case file that ``compare --case-file`` reproduces."""
    table = dict(raw, name=f"fuzz-{neuron}-{seed}")
    comment = (f"Found by `snnbench fuzz {neuron} --seed {seed}` (snnbench {env.version_of('snnbench')}, "
               f"snntorch {env.version_of('snntorch')}, sinabs {env.version_of('sinabs')}).\n"
               f"Reproduce: snnbench compare {neuron} --case-file THIS_FILE\n{reason}")
    path = case_path(out_dir, neuron, seed)
    results.write_text(cases.to_toml(table, comment), path)
    return path


def case_path(out_dir: Path, neuron: str, seed: int) -> Path:
    """Where the shrunk case of a neuron's failure goes (checked before the run starts)."""
    return Path(out_dir) / f"fuzz-{neuron}-seed{seed}.toml"


def fuzz(neurons: list[str], seed: int, budget_s: float, impl_value: str = "native",
         dtypes: tuple[str, ...] = ("float32", "float64"), out_dir: Path = Path("reports") / "fuzz",
         on_case: Callable[[NeuronRun], None] | None = None, max_cases: int | None = None) -> dict:
    """Fuzz each neuron for an equal share of the budget; the "fuzz" report."""
    share = budget_s / max(1, len(neurons))
    runs, failures = [], []
    for neuron in neurons:
        run = search(neuron, seed, share, impl_value, list(dtypes), on_case, max_cases)
        runs.append(run)
        if run.failure is not None:
            path = write_case(run.failure["case"], neuron, seed, run.failure["reason"], out_dir)
            failures.append({"neuron": neuron, "case": f"fuzz-{neuron}-{seed}", "impl": impl_value,
                             "case_file": str(path), "reason": run.failure["reason"],
                             "case_spec": run.failure["case"]})
    summary = [{"neuron": r.neuron, "cases": r.cases, "refused": r.refused, "verdicts": r.verdicts,
                "seconds": r.seconds, "failed": r.failure is not None, "digest": r.digest} for r in runs]
    return results.new_report("fuzz", env.collect("cpu"), failures, runs=summary, seed=seed, budget_s=budget_s,
                              impl=impl_value, dtypes=list(dtypes))


def exit_code(report: dict) -> int:
    return 1 if report["results"] else 0
