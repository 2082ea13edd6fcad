"""The CI gate: a baseline report against a current one -> what got worse, and an exit code.

Both reports must be of the same kind. Each check yields a :class:`Check` with a status:

- ``ok``, ``improved``, ``new`` (only in the current report): fine.
- ``regression``: worse beyond its threshold, with evidence. Exit code 1.
- ``inconclusive``: the point estimate is beyond the threshold but the noise in the raw samples
  is too large to tell (the bootstrap interval straddles the threshold). Exit code 3 when
  nothing regressed.

Equivalence (compare reports), per record (neuron, case, device, dtype):

- Verdicts are ordered pass < skipped < uninformative < fail < error, following ``compare``'s
  exit code (pass and skipped succeed). A verdict that moves right is a regression: pass ->
  skipped loses a check that used to run, so it counts; skipped -> skipped does not; a baseline
  that already failed only regresses when it gets worse still (fail -> error).
- A record of the baseline that is missing from the current report is a regression.
- Errors: ``max_abs`` of every forward field and ``max_rel`` of every gradient. Each is divided
  by ``max(baseline error, floor)``, the floor being the tolerance (``atol`` for forward fields,
  ``grad_rtol`` for gradients); growth beyond ``max_error_growth`` is a regression. So errors
  that stay below the tolerance never regress, whatever their growth (the verdict judges those).

Speed (bench reports), on the figures that hold across machines:

- ``speedup`` of each comparison (reference time / our time, paired in the same run):
  slowdown = baseline speedup / current speedup.
- ``sol_ratio`` of our rows (our time / speed-of-light time of the same run): slowdown =
  current / baseline.
- ``median_s`` of our rows: only when both reports come from the same machine (environment
  ``machine``, ``cpu``, ``torch_threads`` and GPU equal), or when asked (``absolute=True``,
  with a warning when the machines differ).

A slowdown is a regression when the point estimate exceeds ``1 + max_slowdown`` *and* the whole
95% bootstrap interval does (the raw ``ratios`` or ``samples_s`` of both reports are resampled,
seeded per check so the gate repeats exactly); when the point estimate exceeds it but the
interval reaches below, the check is inconclusive. Without raw samples there is no evidence, so
a point estimate beyond the threshold is inconclusive.

Memory: ``peak_mem_bytes`` of our rows; growth beyond ``max_memory_growth`` is a regression
(peak memory is deterministic enough to need no statistics). Reference and speed-of-light rows
are shown by ``bench`` itself; the gate judges only ours.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from snnbench.cases import DEFAULT_TOLERANCES
from snnbench.errors import ReportError, SnnbenchError
from snnbench.results import BENCH_KEY, COMPARE_KEY, COMPARISON_KEY

VERDICT_ORDER = {"pass": 0, "skipped": 1, "uninformative": 2, "fail": 3, "error": 4}
EXIT_OK, EXIT_REGRESSION, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 3
BAD = ("regression", "inconclusive")


@dataclass(frozen=True)
class Thresholds:
    max_error_growth: float = 10.0
    max_slowdown: float = 0.10
    max_memory_growth: float = 0.10
    absolute: bool = False  # gate absolute times even across machines
    confidence: float = 0.95
    n_boot: int = 2000
    seed: int = 0


@dataclass
class Check:
    """One compared figure of one record."""

    key: dict[str, Any]  # neuron, case, device, dtype, impl (+ mode for bench)
    metric: str
    baseline: Any
    current: Any
    change: str
    status: str  # ok | improved | new | regression | inconclusive
    detail: str = ""


@dataclass
class GateResult:
    kind: str
    checks: list[Check]
    warnings: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(c.status == status for c in self.checks)

    @property
    def exit_code(self) -> int:
        if self.count("regression"):
            return EXIT_REGRESSION
        if self.count("inconclusive"):
            return EXIT_INCONCLUSIVE
        return EXIT_OK

    @property
    def verdict(self) -> str:
        return {EXIT_OK: "ok", EXIT_REGRESSION: "regression", EXIT_INCONCLUSIVE: "inconclusive"}[self.exit_code]


# ---------------------------------------------------------------- thresholds from the command line

def parse_fraction(text: str, option: str) -> float:
    """'10%' or '0.1' -> 0.1; one-line error otherwise."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise SnnbenchError(f"{option} must look like 10% or 0.1, got '{text}'") from None
    if not math.isfinite(value) or value < 0:
        raise SnnbenchError(f"{option} must be a non-negative percentage or fraction, got '{text}'")
    return value


def parse_factor(value: float, option: str) -> float:
    if not math.isfinite(value) or value < 1:
        raise SnnbenchError(f"{option} must be a factor of at least 1, got {value:g}")
    return value


# ---------------------------------------------------------------- record keys



def record_key(record: dict, fields: tuple[str, ...]) -> tuple:
    return tuple(record.get(f) for f in fields)


def index(records: Iterable[dict], fields: tuple[str, ...], where: str) -> dict[tuple, dict]:
    out: dict[tuple, dict] = {}
    for record in records:
        key = record_key(record, fields)
        if key in out:
            raise ReportError(f"{where}: duplicate record {'/'.join(str(k) for k in key if k is not None)}")
        out[key] = record
    return out


def _key_dict(key: tuple, fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: v for f, v in zip(fields, key) if v is not None}


# ---------------------------------------------------------------- the gate

def gate(baseline: dict, current: dict, thresholds: Thresholds = Thresholds(),
         names: tuple[str, str] = ("baseline", "current")) -> GateResult:
    """Compare two loaded reports of the same kind."""
    if baseline["kind"] != current["kind"]:
        raise ReportError(f"{names[0]} is a {baseline['kind']} report but {names[1]} is a "
                          f"{current['kind']} report: gate compares reports of the same kind")
    result = GateResult(baseline["kind"], [], environment_warnings(baseline, current))
    if not baseline["results"]:
        result.warnings.append(f"{names[0]} holds no results: nothing to gate")
    if baseline["kind"] == "compare":
        _gate_compare(baseline, current, thresholds, result, names)
    else:
        _gate_bench(baseline, current, thresholds, result, names)
    return result


def environment_warnings(baseline: dict, current: dict) -> list[str]:
    b, c = baseline.get("environment", {}), current.get("environment", {})
    notes = []
    for name in ("torch", "snntorch", "sinabs", "numpy", "python"):
        if b.get(name) != c.get(name):
            notes.append(f"{name} differs: baseline {b.get(name)}, current {c.get(name)}")
    return notes


def machines(report: dict) -> set[tuple]:
    """The (machine, cpu, torch threads, GPU) of every environment a report (or a merge) ran in."""
    envs = report.get("environments") or [report.get("environment", {})]
    return {(e.get("machine"), e.get("cpu"), e.get("torch_threads"), (e.get("gpu") or {}).get("name"))
            for e in envs if isinstance(e, dict)}


def same_machine(baseline: dict, current: dict) -> bool:
    b = machines(baseline)
    return len(b) == 1 and b == machines(current)


# ---------------------------------------------------------------- equivalence

def _is_bad(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _num(value: Any) -> float:
    """An error as a float; NaN (and a missing error) count as infinitely large."""
    return math.inf if _is_bad(value) else float(value)


def _tolerance(record: dict) -> dict:
    tol = record.get("tolerance")
    if isinstance(tol, dict) and "atol" in tol:
        return tol
    spec_tol = (record.get("case_spec") or {}).get("tolerance", {}).get(record.get("dtype"))
    if isinstance(spec_tol, dict) and "atol" in spec_tol:
        return spec_tol
    return dict(DEFAULT_TOLERANCES.get(record.get("dtype"), DEFAULT_TOLERANCES["float32"]).__dict__)


def _gate_compare(baseline: dict, current: dict, th: Thresholds, result: GateResult,
                  names: tuple[str, str]) -> None:
    base = index(baseline["results"], COMPARE_KEY, names[0])
    cur = index(current["results"], COMPARE_KEY, names[1])
    for key, b in base.items():
        where = _key_dict(key, COMPARE_KEY)
        c = cur.get(key)
        if c is None:
            result.checks.append(Check(where, "verdict", b["verdict"], None, "disappeared", "regression",
                                       "the case is missing from the current report"))
            continue
        result.checks.append(_verdict_check(where, b, c))
        tol = _tolerance(b)
        for section, metric, floor_key in (("forward", "max_abs", "atol"), ("backward", "max_rel", "grad_rtol")):
            b_fields, c_fields = b.get(section) or {}, c.get(section) or {}
            for name in b_fields:
                if name not in c_fields:
                    continue  # the verdict says why (e.g. skipped now)
                result.checks.append(_error_check(where, f"{section} {name} {metric}",
                                                  b_fields[name].get(metric), c_fields[name].get(metric),
                                                  float(tol.get(floor_key, tol["atol"])), th.max_error_growth))
    for key, c in cur.items():
        if key not in base:
            result.checks.append(Check(_key_dict(key, COMPARE_KEY), "verdict", None, c["verdict"], "new", "new"))


def _verdict_check(where: dict, b: dict, c: dict) -> Check:
    bv, cv = b["verdict"], c["verdict"]
    rank_b, rank_c = VERDICT_ORDER.get(bv, 4), VERDICT_ORDER.get(cv, 4)
    if rank_c > rank_b:
        return Check(where, "verdict", bv, cv, f"{bv} -> {cv}", "regression", c.get("reason") or "")
    if rank_c < rank_b:
        return Check(where, "verdict", bv, cv, f"{bv} -> {cv}", "improved", c.get("reason") or "")
    return Check(where, "verdict", bv, cv, "same", "ok")


def _error_check(where: dict, metric: str, b_raw: Any, c_raw: Any, floor: float, factor: float) -> Check:
    b, c = _num(b_raw), _num(c_raw)
    if math.isinf(b):
        status = "ok" if math.isinf(c) else "improved"
        return Check(where, metric, b, c, "-", status, "no finite baseline error to grow from")
    scale = max(b, floor)
    growth = c / scale if scale > 0 else (math.inf if c > 0 else 1.0)
    change = "inf" if math.isinf(growth) else f"x{growth:.3g}"
    if c > floor and growth > factor:
        return Check(where, metric, b, c, change, "regression",
                     f"grew more than x{factor:g} (floor {floor:g})")
    return Check(where, metric, b, c, change, "ok")


# ---------------------------------------------------------------- speed and memory

def _bootstrap_medians(rng: np.random.Generator, samples: np.ndarray, n_boot: int) -> np.ndarray:
    picks = rng.integers(0, samples.size, size=(n_boot, samples.size))
    return np.median(samples[picks], axis=1)


def _samples(values: Any) -> np.ndarray | None:
    if not isinstance(values, list):
        return None
    arr = np.asarray([v for v in values if isinstance(v, (int, float)) and math.isfinite(v)], dtype=float)
    return arr if arr.size >= 2 else None


def slowdown_interval(parts: list[tuple[np.ndarray, int]], th: Thresholds, seed_key: str) -> tuple[float, float]:
    """Bootstrap interval of a product of medians raised to +-1.

    ``parts`` is a list of (samples, exponent): e.g. the slowdown of a speedup is
    median(baseline ratios)^+1 * median(current ratios)^-1. Each sample set is resampled on its own.
    """
    rng = np.random.default_rng([th.seed, zlib.crc32(seed_key.encode())])
    total = np.ones(th.n_boot)
    for samples, power in parts:
        total *= _bootstrap_medians(rng, samples, th.n_boot) ** power
    alpha = (1 - th.confidence) / 2
    lo, hi = np.quantile(total, [alpha, 1 - alpha])
    return float(lo), float(hi)


def _speed_check(where: dict, metric: str, b_value: Any, c_value: Any, point: float | None,
                 parts: list[tuple[np.ndarray | None, int]] | None, th: Thresholds) -> Check:
    """``point`` is the slowdown factor (>1: slower now)."""
    if point is None or not math.isfinite(point) or point <= 0:
        if _positive(b_value) and not _positive(c_value):
            return Check(where, metric, b_value, c_value, "lost", "regression",
                         "measured in the baseline, not now (see the current report's warnings)")
        return Check(where, metric, b_value, c_value, "-", "ok", "no figure to compare")
    limit = 1 + th.max_slowdown
    change = "same" if abs(point - 1) < 5e-4 else f"{point - 1:.1%} slower" if point > 1 else f"{1 - point:.1%} faster"
    if point <= limit:
        status = "improved" if point < 1 / limit else "ok"
        return Check(where, metric, b_value, c_value, change, status)
    if parts is None or any(s is None for s, _ in parts):
        return Check(where, metric, b_value, c_value, change, "inconclusive",
                     "no raw samples to test the difference")
    seed_key = "/".join(str(v) for v in where.values()) + "/" + metric
    lo, hi = slowdown_interval([(s, p) for s, p in parts], th, seed_key)
    interval = f"95% CI {lo - 1:+.1%} .. {hi - 1:+.1%}, threshold +{th.max_slowdown:.0%}"
    if lo > limit:
        return Check(where, metric, b_value, c_value, change, "regression", interval)
    return Check(where, metric, b_value, c_value, change, "inconclusive", interval)


def _median(record: dict) -> float | None:
    value = record.get("median_s")
    if isinstance(value, (int, float)) and value > 0:
        return float(value)
    arr = _samples(record.get("samples_s"))
    return float(np.median(arr)) if arr is not None else None


def _gate_bench(baseline: dict, current: dict, th: Thresholds, result: GateResult,
                names: tuple[str, str]) -> None:
    base = index(baseline["results"], BENCH_KEY, names[0])
    cur = index(current["results"], BENCH_KEY, names[1])
    base_cmp = index(baseline.get("comparisons") or [], COMPARISON_KEY, names[0] + " comparisons")
    cur_cmp = index(current.get("comparisons") or [], COMPARISON_KEY, names[1] + " comparisons")

    absolute = same_machine(baseline, current)
    if th.absolute and not absolute:
        result.warnings.append("the two reports come from different machines (machine, cpu, torch threads "
                               "or GPU differ): absolute times compared as asked, but they may not mean much")
        absolute = True
    elif not absolute:
        result.warnings.append("different machines: absolute times not gated (only speedups, speed-of-light "
                               "ratios and memory); --absolute to gate them anyway")

    for key, b in base_cmp.items():
        where = _key_dict(key, COMPARISON_KEY)
        c = cur_cmp.get(key)
        if c is None:
            result.checks.append(Check(where, "speedup", b.get("speedup"), None, "disappeared", "regression",
                                       "the comparison is missing from the current report"))
            continue
        b_ratios, c_ratios = _samples(b.get("ratios")), _samples(c.get("ratios"))
        b_speed = float(np.median(b_ratios)) if b_ratios is not None else b.get("speedup")
        c_speed = float(np.median(c_ratios)) if c_ratios is not None else c.get("speedup")
        point = b_speed / c_speed if _positive(b_speed) and _positive(c_speed) else None
        result.checks.append(_speed_check(where, "speedup", b.get("speedup"), c.get("speedup"), point,
                                          [(b_ratios, 1), (c_ratios, -1)], th))
    for key, c in cur_cmp.items():
        if key not in base_cmp:
            result.checks.append(Check(_key_dict(key, COMPARISON_KEY), "speedup", None, c.get("speedup"), "new", "new"))

    for key, b in base.items():
        where = _key_dict(key, BENCH_KEY)
        c = cur.get(key)
        if c is None:
            result.checks.append(Check(where, "result", "present", None, "disappeared", "regression",
                                       "the result is missing from the current report"))
            continue
        if b.get("impl") in ("reference", "sol"):
            continue          # the gate judges the implementations under test, not the yardsticks
        b_sol = base.get(key[:-1] + ("sol",))
        c_sol = cur.get(key[:-1] + ("sol",))
        if b_sol is not None and c_sol is not None:
            bm, cm, bs, cs = _median(b), _median(c), _median(b_sol), _median(c_sol)
            point = (cm / bm) * (bs / cs) if all(_positive(v) for v in (bm, cm, bs, cs)) else None
            parts = [(_samples(c.get("samples_s")), 1), (_samples(c_sol.get("samples_s")), -1),
                     (_samples(b.get("samples_s")), -1), (_samples(b_sol.get("samples_s")), 1)]
            result.checks.append(_speed_check(where, "sol_ratio", b.get("sol_ratio"), c.get("sol_ratio"),
                                              point, parts, th))
        if absolute:
            bm, cm = _median(b), _median(c)
            point = cm / bm if _positive(bm) and _positive(cm) else None
            parts = [(_samples(c.get("samples_s")), 1), (_samples(b.get("samples_s")), -1)]
            result.checks.append(_speed_check(where, "median_s", bm, cm, point, parts, th))
        result.checks.append(_memory_check(where, b, c, th))
    for key, c in cur.items():
        if key not in base and c.get("impl") not in ("reference", "sol"):
            result.checks.append(Check(_key_dict(key, BENCH_KEY), "result", None, "present", "new", "new"))


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def _memory_check(where: dict, b: dict, c: dict, th: Thresholds) -> Check:
    bm, cm = b.get("peak_mem_bytes"), c.get("peak_mem_bytes")
    if _positive(bm) and not isinstance(cm, (int, float)):
        return Check(where, "peak_mem_bytes", bm, cm, "-", "inconclusive", "measured in the baseline, not now")
    if not _positive(bm) or not isinstance(cm, (int, float)):
        return Check(where, "peak_mem_bytes", bm, cm, "-", "ok", "not measured")
    if b.get("mem_method") != c.get("mem_method"):
        return Check(where, "peak_mem_bytes", bm, cm, "-", "ok",
                     f"measured differently ({b.get('mem_method')} vs {c.get('mem_method')}): not compared")
    growth = cm / bm - 1
    change = f"{growth:+.1%}"
    if growth > th.max_memory_growth:
        return Check(where, "peak_mem_bytes", bm, cm, change, "regression",
                     f"threshold +{th.max_memory_growth:.0%}")
    status = "improved" if growth < -th.max_memory_growth else "ok"
    return Check(where, "peak_mem_bytes", bm, cm, change, status)


# ---------------------------------------------------------------- running the baseline's cases again

def cases_of(report: dict, source: str) -> list[tuple[Any, dict]]:
    """(Case, first record) for each distinct case of a report, in report order, from case_spec."""
    from snnbench import specs

    seen: dict[tuple, tuple[Any, dict]] = {}
    for i, record in enumerate(report["results"]):
        spec = record.get("case_spec")
        if not isinstance(spec, dict):
            raise ReportError(f"{source}: result {i} ({record.get('neuron')}/{record.get('case')}) has no "
                              "case_spec, so its case cannot run again; pass a CURRENT report instead")
        key = (record["neuron"], record["case"])
        if key not in seen:
            seen[key] = (specs.case_from_spec(spec, source), record)
    return list(seen.values())


def rerun(baseline: dict, source: str, quick: bool = False,
          on_result: Callable[[dict], None] | None = None) -> dict:
    """Run the baseline's cases now, with its dtypes, devices (and, for bench, modes and impls)."""
    from snnbench import runner

    cases = cases_of(baseline, source)
    if not cases:
        raise ReportError(f"{source}: the report holds no results to run again")
    if baseline["kind"] == "compare":
        # group cases by (device, dtypes, implementations) so each runs exactly what the baseline ran
        groups: dict[tuple, list] = {}
        for case, _ in cases:
            rows = [r for r in baseline["results"] if (r["neuron"], r["case"]) == (case.neuron, case.name)]
            for device in dict.fromkeys(r["device"] for r in rows):
                on_device = [r for r in rows if r["device"] == device]
                dtype_names = tuple(dict.fromkeys(r["dtype"] for r in on_device))
                impls = tuple(dict.fromkeys(r.get("impl", "native") for r in on_device))
                groups.setdefault((device, dtype_names, impls), []).append(case)
        reports = []
        for (device, dtype_names, impls), group in groups.items():
            _check_runnable(source, device, dtype_names)
            neurons = list(dict.fromkeys(c.neuron for c in group))
            chosen = {}
            for neuron in neurons:
                chosen.update(runner.compare_implementations(list(impls), [neuron]))
            reports.append(runner.run_compare(group, list(dtype_names), device, chosen, on_result=on_result))
    else:
        try:
            from snnbench.bench.runner import run_bench
        except ImportError:
            raise SnnbenchError("this snnbench cannot run benchmarks (snnbench.bench.runner is missing): "
                                "pass a CURRENT bench report to gate against") from None
        devices = list(dict.fromkeys(r["device"] for r in baseline["results"]))
        threads = baseline.get("environment", {}).get("torch_threads")
        reports = []
        for device in devices:
            _check_runnable(source, device, ())
            rows = [r for r in baseline["results"] if r["device"] == device]
            names = {(r["neuron"], r["case"]) for r in rows}
            group = [case for case, _ in cases if (case.neuron, case.name) in names]
            modes = list(dict.fromkeys(r["mode"] for r in rows))
            impls = list(dict.fromkeys(r["impl"] for r in rows))
            reports.append(run_bench(group, modes, impls, device, threads, quick, on_result=on_result))
    if len(reports) == 1:
        return reports[0]
    from snnbench import merge

    return merge.merge(reports, [f"run {i + 1}" for i in range(len(reports))])


def _check_runnable(source: str, device: str, dtype_names: tuple[str, ...]) -> None:
    from snnbench import runner

    try:
        runner.check_device(device)
        for dtype in dtype_names:
            runner.dtypes(dtype)
    except SnnbenchError as exc:
        raise SnnbenchError(f"{source}: cannot run the baseline's cases here: {exc}") from None


def load_pair(baseline_path: Path, current_path: Path | None) -> tuple[dict, dict | None]:
    from snnbench import results

    baseline = results.load(baseline_path)
    current = results.load(current_path) if current_path is not None else None
    if current is not None and current["kind"] != baseline["kind"]:
        raise ReportError(f"{baseline_path} is a {baseline['kind']} report but {current_path} is a "
                          f"{current['kind']} report: gate compares reports of the same kind")
    return baseline, current
