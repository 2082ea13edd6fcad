"""Case files: TOML -> validated, frozen Case objects.

A case file holds ``[[case]]`` tables. Every error names the file, the case and the key, in one
line (raised as :class:`~snnbench.errors.CaseError`). Neuron-specific checks (which constructor
arguments exist, whether ``sample_shape`` fits the params) belong to the neuron's specification
(:func:`snnbench.specs.load_cases` runs both).
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from snnbench import limits
from snnbench.errors import CaseError
from snnbench.values import DTYPES

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]+$")

CASE_KEYS = {
    "name", "neuron", "steps", "batch", "sample_shape", "seed", "params", "input",
    "tolerance", "bench", "initial_state", "description",
}
INPUT_DISTS = {
    "uniform": {"low": -1.0, "high": 1.0},
    "normal": {"mean": 0.0, "std": 1.0},
    "bernoulli": {"p": 0.5},
}
INITIAL_STATES = ("random", "zeros")


@dataclass(frozen=True)
class Tolerance:
    """How close is equal, for one dtype.

    A forward value matches when ``|ours - ref| <= atol + rtol * |ref|``. A gradient matches when
    its largest error, divided by the largest magnitude of the reference gradient, is at most
    ``grad_rtol`` (gradients are sums over batch and time, so they are judged by their scale).
    A spike that differs where the reference membrane is within ``borderline`` of its threshold
    is a borderline flip, counted apart.
    """

    atol: float
    rtol: float
    grad_rtol: float
    borderline: float


DEFAULT_TOLERANCES = {
    "float32": Tolerance(atol=1e-5, rtol=1e-4, grad_rtol=1e-4, borderline=1e-4),
    "float64": Tolerance(atol=1e-10, rtol=1e-8, grad_rtol=1e-8, borderline=1e-9),
}


@dataclass(frozen=True)
class InputSpec:
    dist: str
    args: Mapping[str, float]

    def describe(self) -> str:
        return f"{self.dist}(" + ", ".join(f"{k}={v:g}" for k, v in self.args.items()) + ")"


@dataclass(frozen=True)
class Case:
    """One comparison or benchmark setting: a neuron, its constructor arguments, input and sizes."""

    name: str
    neuron: str
    steps: int
    batch: int
    sample_shape: tuple[int, ...]
    seed: int
    params: Mapping[str, Any]
    input: InputSpec
    tolerances: Mapping[str, Tolerance]
    source: str
    bench: bool = False
    initial_state: str = "random"
    description: str = ""

    def tolerance(self, dtype: str) -> Tolerance:
        return self.tolerances[dtype]

    def with_seed(self, seed: int) -> "Case":
        return _replace(self, seed=seed)

    def with_params(self, **params: Any) -> "Case":
        merged = dict(self.params)
        merged.update(params)
        return _replace(self, params=MappingProxyType(merged))

    def with_sizes(self, **sizes: Any) -> "Case":
        return _replace(self, **sizes)

    def error(self, key: str | None, message: str) -> CaseError:
        return CaseError(self.source, self.name, key, message)


def _replace(case: Case, **changes: Any) -> Case:
    from dataclasses import replace

    return replace(case, **changes)


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The plain dict/list form of a frozen params value (for JSON and for constructors)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


def _require(table: Mapping, key: str, kind: type | tuple, source: str, case: str | None,
             prefix: str = "") -> Any:
    if key not in table:
        raise CaseError(source, case, prefix + key, "missing")
    return _typed(table[key], kind, source, case, prefix + key)


def _typed(value: Any, kind: type | tuple, source: str, case: str | None, key: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        ok = False
    elif float in kinds and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    else:
        ok = isinstance(value, kinds)
    if not ok:
        names = " or ".join(k.__name__ for k in kinds)
        raise CaseError(source, case, key, f"expected {names}, got {type(value).__name__} {value!r}")
    return value


def _positive_int(table: Mapping, key: str, source: str, case: str) -> int:
    value = _require(table, key, int, source, case)
    return _within(limits.size, value, source, case, key)


def _within(check, value: Any, source: str, case: str, key: str) -> Any:
    """``check(value)`` from snnbench.limits, its complaint as a CaseError naming the key."""
    try:
        return check(value)
    except ValueError as exc:
        raise CaseError(source, case, key, str(exc)) from None


def _all_finite(value: Any, source: str, case: str, key: str) -> None:
    """Refuse NaN and infinities anywhere in a case (TOML has nan and inf): every number a case
    gives must be finite."""
    if isinstance(value, float):
        _within(limits.finite, value, source, case, key)
    elif isinstance(value, dict):
        for k, v in value.items():
            _all_finite(v, source, case, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _all_finite(v, source, case, f"{key}[{i}]")


def _parse_input(raw: Any, source: str, case: str) -> InputSpec:
    if raw is None:
        return InputSpec("uniform", MappingProxyType(dict(INPUT_DISTS["uniform"])))
    _typed(raw, dict, source, case, "input")
    dist = _require(raw, "dist", str, source, case, "input.")
    if dist not in INPUT_DISTS:
        raise CaseError(source, case, "input.dist",
                        f"unknown distribution '{dist}' (known: {', '.join(INPUT_DISTS)})")
    args = dict(INPUT_DISTS[dist])
    for key, value in raw.items():
        if key == "dist":
            continue
        if key not in args:
            raise CaseError(source, case, f"input.{key}",
                            f"unknown key for {dist} (known: {', '.join(args)})")
        args[key] = float(_typed(value, float, source, case, f"input.{key}"))
    if dist == "uniform" and not args["low"] < args["high"]:
        raise CaseError(source, case, "input.high", "must be greater than input.low")
    if dist == "normal" and args["std"] <= 0:
        raise CaseError(source, case, "input.std", "must be positive")
    if dist == "bernoulli" and not 0.0 <= args["p"] <= 1.0:
        raise CaseError(source, case, "input.p", "must lie in [0, 1]")
    return InputSpec(dist, MappingProxyType(args))


def _parse_tolerances(raw: Any, source: str, case: str) -> Mapping[str, Tolerance]:
    tolerances = dict(DEFAULT_TOLERANCES)
    if raw is None:
        return MappingProxyType(tolerances)
    _typed(raw, dict, source, case, "tolerance")
    for dtype, table in raw.items():
        if dtype not in DTYPES:
            raise CaseError(source, case, f"tolerance.{dtype}",
                            f"unknown dtype (known: {', '.join(DTYPES)})")
        _typed(table, dict, source, case, f"tolerance.{dtype}")
        values = dict(DEFAULT_TOLERANCES[dtype].__dict__)
        for key, value in table.items():
            if key not in values:
                raise CaseError(source, case, f"tolerance.{dtype}.{key}",
                                f"unknown key (known: {', '.join(values)})")
            value = float(_typed(value, float, source, case, f"tolerance.{dtype}.{key}"))
            if not (math.isfinite(value) and value >= 0):
                raise CaseError(source, case, f"tolerance.{dtype}.{key}",
                                f"must be a finite number, not negative, got {value}")
            values[key] = value
        tolerances[dtype] = Tolerance(**values)
    return MappingProxyType(tolerances)


def parse_case(raw: Any, source: str, index: int) -> Case:
    """One ``[[case]]`` table -> Case, checking the keys common to every neuron."""
    _typed(raw, dict, source, None, f"case[{index}]")
    name = raw.get("name")
    label = name if isinstance(name, str) else f"#{index + 1}"
    name = _require(raw, "name", str, source, label)
    if not NAME_PATTERN.match(name):
        raise CaseError(source, label, "name", "use only letters, digits, '-', '_' and '.'")
    for key in raw:
        if key not in CASE_KEYS:
            raise CaseError(source, name, key, f"unknown key (known: {', '.join(sorted(CASE_KEYS))})")
    _all_finite(raw, source, name, "")
    shape = _require(raw, "sample_shape", list, source, name)
    if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= limits.SIZE_MAX
                            for d in shape):
        raise CaseError(source, name, "sample_shape", f"must be a list of positive integers (each at most "
                        f"{limits.SIZE_MAX}), got {shape!r}")
    params = _typed(raw.get("params", {}), dict, source, name, "params")
    initial_state = _typed(raw.get("initial_state", "random"), str, source, name, "initial_state")
    if initial_state not in INITIAL_STATES:
        raise CaseError(source, name, "initial_state", f"must be one of {', '.join(INITIAL_STATES)}")
    return Case(
        name=name,
        neuron=_require(raw, "neuron", str, source, name),
        steps=_positive_int(raw, "steps", source, name),
        batch=_positive_int(raw, "batch", source, name),
        sample_shape=tuple(shape),
        seed=_within(limits.seed, _typed(raw.get("seed", 0), int, source, name, "seed"), source, name, "seed"),
        params=_freeze(params),
        input=_parse_input(raw.get("input"), source, name),
        tolerances=_parse_tolerances(raw.get("tolerance"), source, name),
        source=source,
        bench=_typed(raw.get("bench", False), bool, source, name, "bench"),
        initial_state=initial_state,
        description=_typed(raw.get("description", ""), str, source, name, "description"),
    )


def read_file(path: str | Path) -> list[Case]:
    """Parse one case file into cases, checking only what is common to every neuron."""
    path = Path(path)
    source = str(path)
    if path.is_dir():
        raise CaseError(source, None, None, "is a directory, not a case file")
    if path.exists() and not path.is_file():
        raise CaseError(source, None, None, "not a regular file, not a case file")
    if not path.is_file():
        raise CaseError(source, None, None, "no such case file")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise CaseError(source, None, None, f"not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(source, None, None, f"cannot read: {exc}") from None
    except RecursionError:
        raise CaseError(source, None, None, "nested too deeply to be a case file") from None
    try:
        return _parse_cases(data, source)
    except RecursionError:
        raise CaseError(source, None, None, "nested too deeply to be a case file") from None


def _parse_cases(data: dict, source: str) -> list[Case]:
    for key in data:
        if key != "case":
            raise CaseError(source, None, key, "unknown top-level key (cases go in [[case]] tables)")
    raw_cases = data.get("case", [])
    if not isinstance(raw_cases, list) or not raw_cases:
        raise CaseError(source, None, "case", "the file holds no [[case]] tables")
    cases = [parse_case(raw, source, i) for i, raw in enumerate(raw_cases)]
    seen: set[str] = set()
    for case in cases:
        if case.name in seen:
            raise CaseError(source, case.name, "name", "duplicate case name in this file")
        seen.add(case.name)
    return cases


def to_spec(case: Case) -> dict[str, Any]:
    """A case as plain JSON-able data (stored in reports, so a report's cases can run again)."""
    return {
        "name": case.name, "neuron": case.neuron, "steps": case.steps, "batch": case.batch,
        "sample_shape": list(case.sample_shape), "seed": case.seed, "params": thaw(case.params),
        "input": {"dist": case.input.dist, **case.input.args}, "initial_state": case.initial_state,
        "bench": case.bench, "tolerance": {d: dict(t.__dict__) for d, t in case.tolerances.items()},
        "source": case.source,
    }


def from_spec(spec: dict[str, Any], source: str) -> Case:
    """The Case a report's ``case_spec`` describes, parsed like a case file's (the neuron-specific
    checks are :func:`snnbench.specs.check`'s)."""
    if not isinstance(spec, dict):
        raise CaseError(source, None, "case_spec", f"expected a table, got {type(spec).__name__}")
    raw = {k: v for k, v in spec.items() if k != "source"}
    return parse_case(raw, f"{source} ({spec.get('source', 'case_spec')})", 0)


# ---- writing a case file ------------------------------------------------------------------------------
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(table: Mapping[str, Any], comment: str = "") -> str:
    """One ``[[case]]`` table (as a case file holds it, or as :func:`to_spec` gives it) as a case
    file's text: scalars first, then ``[case.params]``, ``[case.input]`` and tolerances."""
    lines = [f"# {line}" for line in comment.splitlines()] + ["[[case]]"]
    sections = {"params", "input", "tolerance"}
    for key, value in table.items():
        if key not in sections and key != "source":
            lines.append(f"{key} = {_toml_value(value)}")
    for key in ("params", "input"):
        if table.get(key):
            lines.append(f"[case.{key}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in table[key].items()]
    for dtype, values in (table.get("tolerance") or {}).items():
        lines.append(f"[case.tolerance.{dtype}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"
