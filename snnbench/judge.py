"""The gate's judge: two loaded reports in, checks out (or one A/B report in, checks out).

Pure: it reads the reports it is given and returns a :class:`GateResult`; it runs nothing,
prints nothing and touches no file. Each check has a status:

- ``ok``, ``improved``, ``new`` (only in the current report): fine.
- ``regression``: worse beyond its threshold, with evidence. Exit code 1.
- ``inconclusive``: the point estimate is beyond the threshold but the noise in the raw samples
  is too large to tell (the bootstrap interval straddles the threshold). Exit code 3 when
  nothing regressed.
- ``info``: a figure measured on another (or an unknown) machine: shown, not judged (the
  detail says what the verdict would have been; ``strict=True`` judges it).

Equivalence (compare reports), per record (neuron, case, device, dtype, impl):

- Verdicts are ordered pass < skipped < uninformative < fail < error, following ``compare``'s
  exit code (pass and skipped succeed). A verdict that moves right is a regression: pass ->
  skipped loses a check that used to run, so it counts; skipped -> skipped does not; a baseline
  that already failed only regresses when it gets worse still (fail -> error).
- A record of the baseline that is missing from the current report is a regression.
- Errors: ``max_abs`` of every forward field and ``max_rel`` of every gradient. Each is divided
  by ``max(baseline error, floor)``, the floor being the tolerance (``atol`` for forward fields,
  ``grad_rtol`` for gradients); growth beyond ``max_error_growth`` is a regression. So errors
  that stay below the tolerance never regress, whatever their growth (the verdict judges those).

Speed and memory (bench reports), judged only where they mean something:

- Same machine (both reports carry a machine fingerprint and they are equal, with the same torch
  threads: :func:`snnbench.env.machine_differences`): ``speedup`` of each comparison (reference
  time / ours, paired in one run; slowdown = baseline speedup / current speedup), ``sol_ratio``
  of our rows (slowdown = median over rounds of ours / speed of light now, over the same then:
  each round's pair stays together), ``median_s`` of our rows, and ``peak_mem_bytes``.
- Different or unknown machines: a warning, and every speed and memory figure is ``info``:
  ratios shift between CPUs (another ISA, cache, memory bandwidth) even for unchanged code.
  ``strict=True`` judges speedups, speed-of-light ratios and memory anyway; ``absolute=True``
  also absolute times. Results or comparisons that disappeared are regressions everywhere.

A slowdown is a regression when the point estimate exceeds ``1 + max_slowdown`` *and* the whole
95% bootstrap interval does (:func:`snnbench.bench.stats.bootstrap_interval`, seeded per check
so the gate repeats exactly); when the point estimate exceeds it but the interval reaches below,
the check is inconclusive. Without raw samples there is no evidence, so a point estimate beyond
the threshold is inconclusive.

Memory: our ``peak_mem_bytes`` regresses when it grows by more than ``max_memory_growth`` *and*
by more than ``min_memory_growth`` bytes (1 MiB by default): a tiny case's peak moves by a few
KiB from run to run, which is a large share of a small number. Measured the same way in both
(``mem_method``), or not compared. Reference and speed-of-light rows are shown by ``bench``
itself; the gate judges only the implementations under test.

An A/B report (kind "ab", ``snnbench gate --rev REV``) is judged alone (:func:`judge_ab`): per
case and mode, ``slowdown`` = the median over rounds of (the working tree's time / REV's time in
the same round), with the same evidence rule, and ``peak_mem_bytes`` of the two revisions with
the same memory rule. Both were measured in one run on one machine, so every figure is judged.

Busy machines: a record whose timing saw competing processes or CPU steal (its ``noise``,
bench/noise.py) puts a warning on the result and a note on the checks of that record.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from snnbench import env
from snnbench.bench import stats
from snnbench.render.numbers import size
from snnbench.cases import DEFAULT_TOLERANCES
from snnbench.errors import ReportError
from snnbench.results import BENCH_KEY, COMPARE_KEY, COMPARISON_KEY

VERDICT_ORDER = {"pass": 0, "skipped": 1, "uninformative": 2, "fail": 3, "error": 4}
EXIT_OK, EXIT_REGRESSION, EXIT_INCONCLUSIVE = 0, 1, 3      # 2: usage errors, raised as SnnbenchError
MEASURED = ("speedup", "sol_ratio", "median_s", "peak_mem_bytes", "slowdown")
MIB = 2 ** 20


@dataclass(frozen=True)
class Thresholds:
    max_error_growth: float = 10.0
    max_slowdown: float = 0.10
    max_memory_growth: float = 0.10
    min_memory_growth: int = MIB   # bytes: memory must also grow by more than this to regress
    absolute: bool = False         # gate absolute times even across machines
    strict: bool = False           # judge speed and memory even across (or between unknown) machines
    confidence: float = stats.CONFIDENCE
    n_boot: int = stats.BOOTSTRAP_RESAMPLES
    seed: int = stats.BOOTSTRAP_SEED


@dataclass
class Check:
    """One compared figure of one record."""

    key: dict[str, Any]  # neuron, case, device, dtype, impl (+ mode for bench)
    metric: str
    baseline: Any
    current: Any
    change: str
    status: str  # ok | improved | new | regression | inconclusive | info
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

    def neurons(self, status: str) -> list[str]:
        """The neurons with a check of this status, in order."""
        return list(dict.fromkeys(c.key.get("neuron", "") for c in self.checks if c.status == status))


# ---------------------------------------------------------------- thresholds from the command line


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


# ---------------------------------------------------------------- the judge

def judge(baseline: dict, current: dict, thresholds: Thresholds = Thresholds(),
          names: tuple[str, str] = ("baseline", "current")) -> GateResult:
    """Compare two loaded reports of the same kind."""
    if baseline["kind"] != current["kind"]:
        raise ReportError(f"{names[0]} is a {baseline['kind']} report but {names[1]} is a "
                          f"{current['kind']} report: gate compares reports of the same kind")
    if baseline["kind"] == "ab":
        raise ReportError(f"{names[0]} is an A/B report: it holds its own baseline (REV), so gate judges "
                          "it alone (snnbench gate REPORT)")
    if baseline["kind"] not in ("compare", "bench"):
        raise ReportError(f"{names[0]} is a {baseline['kind']} report: gate judges compare and bench reports "
                          "(and A/B reports alone)")
    result = GateResult(baseline["kind"], [], environment_warnings(baseline, current))
    if not baseline["results"]:
        result.warnings.append(f"{names[0]} holds no results: nothing to gate")
    if baseline["kind"] == "compare":
        _judge_compare(baseline, current, thresholds, result, names)
    else:
        _judge_bench(baseline, current, thresholds, result, names)
    return result


def environment_warnings(baseline: dict, current: dict) -> list[str]:
    b, c = baseline.get("environment", {}), current.get("environment", {})
    notes = []
    for name in ("torch", "snntorch", "sinabs", "numpy", "python"):
        if b.get(name) != c.get(name):
            notes.append(f"{name} differs: baseline {b.get(name)}, current {c.get(name)}")
    return notes


def same_machine(baseline: dict, current: dict) -> bool:
    """Both reports (every environment of a merge) from one machine fingerprint and thread count."""
    return env.machine_differences(baseline, current) == []


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


def _judge_compare(baseline: dict, current: dict, th: Thresholds, result: GateResult,
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
        return Check(where, "verdict", bv, cv, "worse", "regression", c.get("reason") or "")
    if rank_c < rank_b:
        return Check(where, "verdict", bv, cv, "better", "improved", c.get("reason") or "")
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

def _samples(values: Any) -> np.ndarray | None:
    if not isinstance(values, list):
        return None
    arr = np.asarray([v for v in values if isinstance(v, (int, float)) and math.isfinite(v) and v > 0],
                     dtype=float)
    return arr if arr.size >= 2 else None


def _paired(numerators: Any, denominators: Any) -> np.ndarray | None:
    """Per-round ratios of two sample lists of one run (round i of each was timed side by side)."""
    a, b = _samples(numerators), _samples(denominators)
    if a is None or b is None or a.size != b.size or len(numerators) != len(denominators):
        return None
    return a / b


def slowdown_interval(parts: list[tuple[np.ndarray, int]], th: Thresholds, seed_key: str) -> tuple[float, float]:
    """The bootstrap interval of a slowdown (a product of medians raised to +-1), seeded per check."""
    return stats.bootstrap_interval(parts, th.confidence, th.n_boot, [th.seed, zlib.crc32(seed_key.encode())])


def _speed_check(where: dict, metric: str, b_value: Any, c_value: Any, point: float | None,
                 parts: list[tuple[np.ndarray | None, int]] | None, th: Thresholds,
                 clusters: list[int] | None = None) -> Check:
    """``point`` is the slowdown factor (>1: slower now). ``clusters``: for one set of ratios, the
    pair of processes each came from (an A/B report's ``ratio_process``): the interval is then
    the two-stage bootstrap over the pairs and their rounds."""
    if point is None or not math.isfinite(point) or point <= 0:
        if _positive(b_value) and not _positive(c_value):
            return Check(where, metric, b_value, c_value, "lost", "regression",
                         "measured in the baseline, not now (see the current report's warnings)")
        return Check(where, metric, b_value, c_value, "-", "ok", "no figure to compare")
    limit = 1 + th.max_slowdown
    change = slowdown_text(point)
    if point <= limit:
        status = "improved" if point < 1 / limit else "ok"
        return Check(where, metric, b_value, c_value, change, status)
    if parts is None or any(s is None for s, _ in parts):
        return Check(where, metric, b_value, c_value, change, "inconclusive",
                     "no raw samples to test the difference")
    seed_key = "/".join(str(v) for v in where.values()) + "/" + metric
    if clusters is not None:
        lo, hi = stats.bootstrap_median_ci_clustered(parts[0][0], clusters, th.confidence, th.n_boot,
                                                     [th.seed, zlib.crc32(seed_key.encode())])
    else:
        lo, hi = slowdown_interval([(s, p) for s, p in parts], th, seed_key)
    interval = f"95% CI {lo - 1:+.1%} .. {hi - 1:+.1%}, threshold +{th.max_slowdown:.0%}"
    if lo > limit:
        return Check(where, metric, b_value, c_value, change, "regression", interval)
    return Check(where, metric, b_value, c_value, change, "inconclusive", interval)


def slowdown_text(point: float) -> str:
    """1.05 -> '5.0% slower', 0.9 -> '10.0% faster', 11.2 -> '11.2x slower'."""
    if abs(point - 1) < 5e-4:
        return "same"
    if point >= 2:
        return f"{point:.3g}x slower"
    if point <= 0.5:
        return f"{1 / point:.3g}x faster"
    return f"{point - 1:.1%} slower" if point > 1 else f"{1 - point:.1%} faster"


def _median(record: dict) -> float | None:
    value = record.get("median_s")
    if isinstance(value, (int, float)) and value > 0:
        return float(value)
    arr = _samples(record.get("samples_s"))
    return float(np.median(arr)) if arr is not None else None


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _busy(record: dict | None) -> str | None:
    """The busy-machine warning of a record, if its timing saw one."""
    for w in (record or {}).get("warnings") or []:
        if isinstance(w, str) and w.startswith("busy machine"):
            return w
    return None


def _noise_notes(report: dict, name: str, result: GateResult) -> None:
    busy = [r for r in report["results"] if r.get("impl") not in ("reference", "sol") and _busy(r)]
    if busy:
        first = busy[0]
        result.warnings.append(f"{name} was timed on a busy machine ({len(busy)} of its records; first: "
                               f"{first['neuron']}/{first['case']} {first.get('mode', '')}: "
                               f"{_busy(first).removeprefix('busy machine: ')})")


def _machines(baseline: dict, current: dict, th: Thresholds, result: GateResult) -> tuple[bool, bool]:
    """(judge ratios and memory, judge absolute times), with the warnings that explain them."""
    differences = env.machine_differences(baseline, current)
    if differences == []:
        return True, True
    why = ("the machines cannot be told to be the same (a report records no machine fingerprint)"
           if differences is None else "the machines differ (" + "; ".join(differences) + ")")
    if th.strict:
        result.warnings.append(f"{why}: speedups, speed-of-light ratios and memory judged anyway (--strict)")
    else:
        result.warnings.append(f"{why}: speed and memory shown, not judged (ratios shift between CPUs even for "
                               "unchanged code); gate --rev REV compares revisions in one run on one machine, "
                               "--strict judges them anyway")
    if th.absolute:
        result.warnings.append("absolute times compared as asked (--absolute), but they may not mean much")
    return th.strict, th.absolute


def _informational(check: Check) -> Check:
    """A figure measured on another machine: shown, with what its verdict would have been."""
    if check.status != "ok":
        check.detail = "; ".join(x for x in (f"would be {check.status} if judged", check.detail) if x)
    check.status = "info"
    return check


def _judge_bench(baseline: dict, current: dict, th: Thresholds, result: GateResult,
                 names: tuple[str, str]) -> None:
    base = index(baseline["results"], BENCH_KEY, names[0])
    cur = index(current["results"], BENCH_KEY, names[1])
    base_cmp = index(baseline.get("comparisons") or [], COMPARISON_KEY, names[0] + " comparisons")
    cur_cmp = index(current.get("comparisons") or [], COMPARISON_KEY, names[1] + " comparisons")
    judge_ratios, judge_absolute = _machines(baseline, current, th, result)
    _noise_notes(baseline, names[0], result)
    _noise_notes(current, names[1], result)

    def add(check: Check, judged: bool, b_row: dict | None = None, c_row: dict | None = None) -> None:
        busy = [n for n, row in (("baseline", b_row), ("current", c_row)) if _busy(row)]
        if busy:
            check.detail = "; ".join(x for x in (check.detail, f"busy machine ({', '.join(busy)})") if x)
        result.checks.append(check if judged else _informational(check))

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
        rows = [base.get(key), cur.get(key)]
        add(_speed_check(where, "speedup", b.get("speedup"), c.get("speedup"), point,
                         [(b_ratios, 1), (c_ratios, -1)], th), judge_ratios, *rows)
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
        b_sol, c_sol = base.get(key[:-1] + ("sol",)), cur.get(key[:-1] + ("sol",))
        if b_sol is not None and c_sol is not None:
            add(_sol_check(where, b, c, b_sol, c_sol, th), judge_ratios, b, c)
        if judge_absolute:
            bm, cm = _median(b), _median(c)
            point = cm / bm if _positive(bm) and _positive(cm) else None
            parts = [(_samples(c.get("samples_s")), 1), (_samples(b.get("samples_s")), -1)]
            add(_speed_check(where, "median_s", bm, cm, point, parts, th), True, b, c)
        add(memory_check(where, b, c, th), judge_ratios)
    for key, c in cur.items():
        if key not in base and c.get("impl") not in ("reference", "sol"):
            result.checks.append(Check(_key_dict(key, BENCH_KEY), "result", None, "present", "new", "new"))


def _sol_check(where: dict, b: dict, c: dict, b_sol: dict, c_sol: dict, th: Thresholds) -> Check:
    """Ours over the speed of light, now against then. Each report's rounds stay paired (ours and
    the speed of light of round i were timed side by side); unpaired medians where they cannot."""
    b_ratios = _paired(b.get("samples_s"), b_sol.get("samples_s"))
    c_ratios = _paired(c.get("samples_s"), c_sol.get("samples_s"))
    if b_ratios is not None and c_ratios is not None:
        point = float(np.median(c_ratios)) / float(np.median(b_ratios))
        parts = [(c_ratios, 1), (b_ratios, -1)]
    else:
        bm, cm, bs, cs = _median(b), _median(c), _median(b_sol), _median(c_sol)
        point = (cm / bm) * (bs / cs) if all(_positive(v) for v in (bm, cm, bs, cs)) else None
        parts = [(_samples(c.get("samples_s")), 1), (_samples(c_sol.get("samples_s")), -1),
                 (_samples(b.get("samples_s")), -1), (_samples(b_sol.get("samples_s")), 1)]
    return _speed_check(where, "sol_ratio", b.get("sol_ratio"), c.get("sol_ratio"), point, parts, th)


def memory_check(where: dict, b: dict, c: dict, th: Thresholds) -> Check:
    """Peak memory: a regression when it grows by more than the share *and* the bytes allowed."""
    bm, cm = b.get("peak_mem_bytes"), c.get("peak_mem_bytes")
    if _positive(bm) and not isinstance(cm, (int, float)):
        return Check(where, "peak_mem_bytes", bm, cm, "-", "inconclusive", "measured in the baseline, not now")
    if not _measured(bm) or not _measured(cm):
        return Check(where, "peak_mem_bytes", bm, cm, "-", "ok", "not measured")
    if b.get("mem_method") != c.get("mem_method"):
        return Check(where, "peak_mem_bytes", bm, cm, "-", "ok",
                     f"measured differently ({b.get('mem_method')} vs {c.get('mem_method')}): not compared")
    growth = cm / bm - 1 if bm > 0 else (math.inf if cm > 0 else 0.0)
    change = f"{growth:+.1%}" if math.isfinite(growth) else f"+{size(cm - bm)}"
    if growth > th.max_memory_growth and cm - bm > th.min_memory_growth:
        return Check(where, "peak_mem_bytes", bm, cm, change, "regression",
                     f"threshold +{th.max_memory_growth:.0%} and +{size(th.min_memory_growth)}")
    if growth > th.max_memory_growth:
        return Check(where, "peak_mem_bytes", bm, cm, change, "ok",
                     f"grew by {size(cm - bm)}, under the +{size(th.min_memory_growth)} floor")
    status = "improved" if growth < -th.max_memory_growth and bm - cm > th.min_memory_growth else "ok"
    return Check(where, "peak_mem_bytes", bm, cm, change, status)


def _measured(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


# ---------------------------------------------------------------- an A/B report (gate --rev)

def judge_ab(report: dict, thresholds: Thresholds = Thresholds(), name: str = "A/B") -> GateResult:
    """Judge an A/B report alone: the working tree against REV, measured in one run."""
    if report["kind"] != "ab":
        raise ReportError(f"{name} is a {report['kind']} report, not an A/B report")
    th = thresholds
    result = GateResult("ab", [])
    rows = index(report["results"], BENCH_KEY, name)
    if not rows:
        result.warnings.append(f"{name} holds no results: nothing to gate")
    busy = []
    for key, r in rows.items():
        where = _key_dict(key, BENCH_KEY)
        b, c = r.get("base") or {}, r.get("current") or {}
        if _busy(r):
            busy.append(r)
        if b.get("error") or c.get("error"):
            result.checks.append(_ab_failure(where, b, c, result))
            continue
        ratios = _samples(r.get("ratios"))
        point = float(np.median(ratios)) if ratios is not None else r.get("slowdown")
        clusters = r.get("ratio_process")
        if ratios is None or not isinstance(clusters, list) or len(clusters) != ratios.size \
                or len(clusters) != len(r.get("ratios") or []):
            clusters = None
        check = _speed_check(where, "slowdown", b.get("median_s"), c.get("median_s"), point,
                             [(ratios, 1)], th, clusters)
        if _busy(r):
            check.detail = "; ".join(x for x in (check.detail, "busy machine") if x)
        result.checks.append(check)
        mem = memory_check(where, {**b, "mem_method": r.get("mem_method")}, {**c, "mem_method": r.get("mem_method")}, th)
        result.checks.append(mem)
    if busy:
        first = busy[0]
        result.warnings.append(f"timed on a busy machine ({len(busy)} of {len(rows)} records; first: "
                               f"{first['neuron']}/{first['case']} {first['mode']}: "
                               f"{_busy(first).removeprefix('busy machine: ')})")
    return result


def _ab_failure(where: dict, b: dict, c: dict, result: GateResult) -> Check:
    if c.get("error") and not b.get("error"):
        return Check(where, "runs", "ran", "error", "fails now", "regression", c["error"])
    if b.get("error") and not c.get("error"):
        return Check(where, "runs", "error", "ran", "runs now", "new", f"the base revision could not: {b['error']}")
    result.warnings.append(f"{where.get('neuron')}/{where.get('case')} {where.get('mode')}: neither revision "
                           f"ran it ({c['error']})")
    return Check(where, "runs", "error", "error", "same", "ok", c["error"])
