"""The types of a report's fields, in one place, and the check of a loaded report against them.

Every field a reader uses (``report``, ``gate``, ``merge``, ``baseline``, the renderers) has its
type here; :func:`problem` walks a value against a type and names the first key that does not
fit. Records may hold keys not listed here (newer writers add keys); listed keys must have their
type, and the keys a reader cannot do without are required. ``results.load`` runs
:func:`check_report` on every report it reads, so nothing downstream meets a wrong type.

The figures derived from raw samples are checked against them on load, as pyperf keeps only the
samples and derives the rest: a bench record's ``median_s``, ``iqr_s``, ``repeats`` and
``throughput.sequences_per_s`` from its ``samples_s``; a comparison's ``speedup`` and ``n_pairs``
from its ``ratios`` (its bootstrap interval lies within their range); an A/B record's ``ratios`` from the
two sides' samples, its ``slowdown`` from the ratios. A report edited by hand so that a figure no
longer follows from its samples is refused, naming the record and the key.

Gate checks are not saved as records; they are :class:`snnbench.judge.Check` dataclasses, printed
or written as markdown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from snnbench.bench import stats


@dataclass(frozen=True)
class Scalar:
    describe: str
    ok: Callable[[Any], bool]


@dataclass(frozen=True)
class Nullable:
    kind: Any


@dataclass(frozen=True)
class ListOf:
    item: Any
    length: int | None = None


@dataclass(frozen=True)
class DictOf:
    value: Any


@dataclass(frozen=True)
class Record:
    fields: dict
    required: tuple[str, ...] = ()


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


ANY = Scalar("anything", lambda v: True)
STR = Scalar("a string", lambda v: isinstance(v, str))
INT = Scalar("an integer", _is_int)
BOOL = Scalar("true or false", lambda v: isinstance(v, bool))
NUMBER = Scalar("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))


def one_of(*values: str) -> Scalar:
    return Scalar("one of " + ", ".join(values), lambda v: isinstance(v, str) and v in values)


VERDICTS = ("pass", "fail", "uninformative", "skipped", "error")
MODES = ("forward", "train")
NON_FINITE = ("nan", "inf", "-inf")

KINDS = ("compare", "bench", "ab", "fuzz", "audit")

FIELD_DIFF = Record({
    "max_abs": NUMBER, "max_rel": NUMBER, "mismatches": INT, "first_divergent_step": Nullable(INT),
    "per_step_max_abs": ListOf(NUMBER), "borderline_flips": INT, "note": STR, "non_finite": INT, "excused": STR,
}, required=("max_abs", "max_rel", "mismatches", "first_divergent_step"))

GRAD_DIFF = Record({
    "max_abs": NUMBER, "max_rel": NUMBER, "ok": BOOL, "note": STR, "judged_at": STR, "non_finite": INT,
    "excused": STR,
}, required=("max_abs", "max_rel", "ok"))

CASE_SPEC = Record({
    "name": STR, "neuron": STR, "steps": INT, "batch": INT, "sample_shape": ListOf(INT), "seed": INT,
    "params": DictOf(ANY), "input": DictOf(ANY), "initial_state": STR, "bench": BOOL,
    "tolerance": DictOf(DictOf(NUMBER)), "source": STR, "description": STR,
})

COMPARE_RECORD = Record({
    "neuron": STR, "case": STR, "device": STR, "dtype": STR, "impl": STR, "verdict": one_of(*VERDICTS),
    "reason": STR, "spike_rate": Nullable(NUMBER), "forward": DictOf(FIELD_DIFF),
    "stepwise": DictOf(FIELD_DIFF), "backward": DictOf(GRAD_DIFF), "borderline_flips": INT,
    "compared": DictOf(STR), "not_compared": DictOf(STR), "stepwise_note": STR, "findings": ListOf(STR),
    "hint": STR, "case_spec": CASE_SPEC, "tolerance": DictOf(NUMBER), "duration_s": NUMBER,
    "impl_info": Nullable(DictOf(ANY)), "judged_spike_rate": Nullable(NUMBER), "release": STR,
    "float64_truth": DictOf(ANY), "documented_match": ListOf(STR),
}, required=("neuron", "case", "device", "dtype", "impl", "verdict"))

BENCH_RECORD = Record({
    "neuron": STR, "case": STR, "device": STR, "dtype": STR, "mode": one_of(*MODES), "impl": STR,
    "impl_info": Nullable(DictOf(ANY)), "train_fields": Nullable(ListOf(STR)), "samples_s": ListOf(NUMBER),
    "median_s": Nullable(NUMBER), "iqr_s": Nullable(NUMBER), "repeats": INT,
    "throughput": Record({"neuron_steps_per_s": Nullable(NUMBER), "sequences_per_s": Nullable(NUMBER)}),
    "peak_mem_bytes": Nullable(NUMBER), "mem_method": Nullable(STR), "sol_ratio": Nullable(NUMBER),
    "warnings": ListOf(STR), "case_spec": CASE_SPEC, "sol_work": STR, "noise": Nullable(DictOf(ANY)),
}, required=("neuron", "case", "device", "dtype", "mode", "impl", "samples_s", "median_s"))

AB_SIDE = Record({
    "samples_s": ListOf(NUMBER), "median_s": Nullable(NUMBER), "iqr_s": Nullable(NUMBER),
    "peak_mem_bytes": Nullable(NUMBER), "error": Nullable(STR),
}, required=("samples_s",))

AB_RECORD = Record({
    "neuron": STR, "case": STR, "device": STR, "dtype": STR, "mode": one_of(*MODES), "impl": STR,
    "base": AB_SIDE, "current": AB_SIDE, "ratios": ListOf(NUMBER), "slowdown": Nullable(NUMBER),
    "ci": Nullable(ListOf(NUMBER, length=2)), "n_pairs": INT, "ratio_process": ListOf(INT), "process_pairs": INT,
    "mem_method": Nullable(STR), "train_fields": Nullable(ListOf(STR)), "noise": Nullable(DictOf(ANY)),
    "warnings": ListOf(STR), "case_spec": CASE_SPEC,
}, required=("neuron", "case", "device", "dtype", "mode", "impl", "base", "current", "ratios"))

FUZZ_RECORD = Record({
    "neuron": STR, "case": STR, "impl": STR, "case_file": STR, "reason": STR, "case_spec": DictOf(ANY),
}, required=("neuron", "case", "case_file", "reason"))

AUDIT_RECORD = Record({
    "neuron": STR, "departure": STR, "library": STR, "version": Nullable(STR), "documented": STR,
    "actual": STR, "holds": Nullable(BOOL), "method": STR, "case": Nullable(STR),
    "case_spec": Nullable(DictOf(ANY)), "dtype": STR, "effect": Nullable(DictOf(ANY)),
}, required=("neuron", "departure", "holds", "method", "effect"))

COMPARISON = Record({
    "neuron": STR, "case": STR, "device": STR, "dtype": STR, "mode": one_of(*MODES), "impl": STR,
    "speedup": NUMBER, "ci": ListOf(NUMBER, length=2), "ratios": ListOf(NUMBER), "n_pairs": INT,
}, required=("neuron", "case", "device", "dtype", "mode", "impl", "speedup", "ci", "ratios", "n_pairs"))

ENVIRONMENT = Record({
    "python": Nullable(STR), "packages": DictOf(Nullable(STR)), "platform": Nullable(STR),
    "machine": Nullable(STR), "cpu": Nullable(STR), "cpu_count": Nullable(INT), "torch_threads": Nullable(INT),
    "git_commit": Nullable(STR), "torch": Nullable(STR), "snntorch": Nullable(STR), "sinabs": Nullable(STR),
    "numpy": Nullable(STR),
    "gpu": Nullable(Record({"name": STR, "memory_bytes": INT, "capability": STR})),
    "cuda": Nullable(STR), "tf32": Nullable(DictOf(BOOL)),
})

REPORT = Record({
    "schema_version": INT, "kind": one_of(*KINDS), "created": STR, "snnbench": STR,
    "command": ListOf(STR), "environment": ENVIRONMENT, "environments": ListOf(ENVIRONMENT),
    "merged_from": ListOf(STR), "results": ListOf(Scalar("a record (a table)", lambda v: isinstance(v, dict))),
    "comparisons": ListOf(Scalar("a record (a table)", lambda v: isinstance(v, dict))),
    "settings": Record({"threads": INT, "warmup_calls": INT, "warmup_s": NUMBER, "min_time_s": NUMBER,
                        "min_repeats": INT, "max_repeats": INT, "memory": BOOL}),
    "sweep": Record({"key": STR, "values": ListOf(NUMBER), "case": STR}),
}, required=("schema_version", "kind", "environment", "results"))

RECORDS = {"compare": COMPARE_RECORD, "bench": BENCH_RECORD, "ab": AB_RECORD, "fuzz": FUZZ_RECORD,
           "audit": AUDIT_RECORD}


def _show(value: Any) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}" if value is not None else "null"


def _join(key: str, part: str) -> str:
    return f"{key}.{part}" if key else part


def problem(value: Any, kind: Any, key: str = "") -> tuple[str, str] | None:
    """(key, what is wrong) for the first part of ``value`` that does not fit ``kind``, or None."""
    if isinstance(kind, Nullable):
        if value is None:
            return None
        kind = kind.kind
    if isinstance(kind, Scalar):
        return None if kind.ok(value) else (key, f"must be {kind.describe}, got {_show(value)}")
    if isinstance(kind, ListOf):
        if not isinstance(value, list):
            return key, f"must be a list, got {_show(value)}"
        if kind.length is not None and len(value) != kind.length:
            return key, f"must hold {kind.length} values, got {len(value)}"
        for i, item in enumerate(value):
            found = problem(item, kind.item, f"{key}[{i}]")
            if found:
                return found
        return None
    if isinstance(kind, DictOf):
        if not isinstance(value, dict):
            return key, f"must be a table, got {_show(value)}"
        for name, item in value.items():
            found = problem(item, kind.value, _join(key, str(name)))
            if found:
                return found
        return None
    if isinstance(kind, Record):
        if not isinstance(value, dict):
            return key, f"must be a table, got {_show(value)}"
        missing = [k for k in kind.required if k not in value]
        if missing:
            return key, "lacks " + ", ".join(missing)
        for name, field_kind in kind.fields.items():
            if name in value:
                found = problem(value[name], field_kind, _join(key, name))
                if found:
                    return found
        return None
    raise TypeError(f"not a schema type: {kind!r}")


def _label(record: dict) -> str:
    parts = [record.get(k) for k in ("neuron", "case", "impl", "dtype", "mode")]
    return "/".join(str(p) for p in parts if isinstance(p, str))


def check_report(report: dict) -> str | None:
    """What is wrong with a loaded report (naming the record and the key), or None."""
    found = problem(report, REPORT)
    if found:
        return _where("", *found)
    sections = [("result", report["results"], RECORDS[report["kind"]])]
    if report["kind"] == "bench":
        if "comparisons" not in report:
            return "lacks comparisons"
        sections.append(("comparison", report["comparisons"], COMPARISON))
    for name, records, kind in sections:
        derived = "comparison" if name == "comparison" else report["kind"]
        for i, record in enumerate(records):
            found = problem(record, kind) or derived_problem(record, derived)
            if found:
                label = _label(record)
                return _where(f"{name} {i}" + (f" ({label})" if label else ""), *found)
    return None


def _near(value: Any, expected: float) -> bool:
    """Equal but for float rounding (derived figures are computed in float64 and printed exactly)."""
    return isinstance(value, (int, float)) and abs(value - expected) <= 1e-9 * max(abs(expected), 1e-30)


def _derived_from_samples(record: dict, prefix: str = "") -> tuple[str, str] | None:
    samples = record["samples_s"]
    if not samples:
        for key in ("median_s", "iqr_s"):
            if record.get(key) is not None:
                return prefix + key, "must be null without samples_s"
        return None
    derived = {"median_s": stats.median(samples), "iqr_s": stats.iqr(samples), "repeats": len(samples)}
    for key, expected in derived.items():
        if key in record and not _near(record[key], expected):
            return prefix + key, f"is {record[key]!r} but samples_s give {expected!r}"
    return None


def derived_problem(record: dict, kind: str) -> tuple[str, str] | None:
    """(key, what is wrong) for the first figure of a record that does not follow from its samples."""
    if kind == "bench":
        found = _derived_from_samples(record)
        if found:
            return found
        rate, spec = (record.get("throughput") or {}).get("sequences_per_s"), record.get("case_spec") or {}
        if rate is not None and record["median_s"] and isinstance(spec.get("batch"), int) \
                and not _near(rate, spec["batch"] / record["median_s"]):
            return "throughput.sequences_per_s", f"is {rate!r} but batch / median_s is {spec['batch'] / record['median_s']!r}"
    if kind in ("comparison", "ab"):
        ratios = record["ratios"]
        if kind == "ab":
            for side in ("base", "current"):
                found = _derived_from_samples(record[side], side + ".")
                if found:
                    return found
            base, current = record["base"]["samples_s"], record["current"]["samples_s"]
            if len(ratios) > min(len(base), len(current)):
                return "ratios", f"holds {len(ratios)} ratios but the sides hold {len(base)} and {len(current)} samples"
            for i, ratio in enumerate(ratios):
                if base[i] <= 0 or not _near(ratio, current[i] / base[i]):
                    return f"ratios[{i}]", f"is {ratio!r} but current / base samples give {current[i] / base[i] if base[i] else 'no ratio'}"
            if "ratio_process" in record and len(record["ratio_process"]) != len(ratios):
                return "ratio_process", f"holds {len(record['ratio_process'])} entries for {len(ratios)} ratios"
        point = "speedup" if kind == "comparison" else "slowdown"
        expected = stats.median(ratios) if ratios else None
        if (expected is None) != (record.get(point) is None) or (expected is not None and not _near(record[point], expected)):
            return point, f"is {record.get(point)!r} but the median of ratios is {expected!r}"
        if "n_pairs" in record and record["n_pairs"] != len(ratios):
            return "n_pairs", f"is {record['n_pairs']!r} but ratios hold {len(ratios)}"
        ci = record.get("ci")
        if expected is not None and ci is not None and not min(ratios) <= ci[0] <= ci[1] <= max(ratios):
            return "ci", f"[{ci[0]!r}, {ci[1]!r}] is not an interval within the ratios' range"
    return None


def _where(record: str, key: str, what: str) -> str:
    """'result 3 (slstm/x): key 'forward.spk.max_abs' must be a number, got ...' and the like."""
    if not key:
        return f"{record} {what}".strip()
    head = f"{record}: " if record else ""
    return f"{head}{key} {what}" if what.startswith("lacks") else f"{head}key '{key}' {what}"
