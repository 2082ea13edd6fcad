"""Reports: the JSON records snnbench writes and reads back.

Schema history (``schema_version``):

1. First version. Top level: ``schema_version``, ``kind`` ("compare" | "bench"), ``created``
   (ISO 8601, UTC), ``snnbench`` (version), ``command`` (argv), ``environment`` (see env.py),
   ``results`` (list of records), and for "bench" also ``comparisons``. On CUDA the environment
   adds ``gpu``, ``cuda`` and ``tf32`` ({matmul, cudnn}: torch's TF32 switches, the settings
   benchmarks ran at; compare always runs with both off, see verify.py).

   A compare record: ``neuron``, ``case``, ``device``, ``dtype``, ``verdict`` (pass | fail |
   uninformative | skipped | error), ``reason``, ``spike_rate`` (fraction of reference outputs
   that are spikes, or null), ``forward`` and ``stepwise`` ({field: {max_abs, max_rel, mismatches,
   first_divergent_step, per_step_max_abs}}; forward is the free run, stepwise each step from the
   reference's own state), ``backward`` ({name: {max_abs, max_rel, ok}}), ``borderline_flips``,
   ``findings`` (where the reference departs from its documentation), ``case_spec``,
   ``tolerance``, ``duration_s``.

   A bench report also has ``settings`` ({threads, warmup_calls, warmup_s, min_time_s,
   min_repeats, max_repeats, memory}) and ``comparisons``. A bench record, one per neuron, case,
   mode and impl: ``neuron``, ``case``, ``device``, ``dtype``, ``mode`` ("forward": one sequence
   under no_grad | "train": the same plus the backward from a fixed random upstream gradient per
   output field, fed to ``torch.autograd.backward``: the gradient of sum_f sum(out_f * upstream_f)
   without forming the products), ``impl`` ("native" | "reference" | "sol": the case's
   speed-of-light work, timed in the same run), ``samples_s`` (raw seconds of each timed call,
   one call = one full sequence of T steps; sample i of every impl of a case and mode comes from
   the same interleaved round i), ``median_s``, ``iqr_s`` (q75 - q25), ``repeats``,
   ``throughput`` ({``neuron_steps_per_s``: numel of one output sample x T x B / median_s,
   ``sequences_per_s``: B / median_s}), ``peak_mem_bytes`` (peak above idle during one call;
   null for "sol" or when not measured), ``mem_method`` ("cpu-peak-rss-subprocess",
   "cpu-peak-rss-subprocess-noreset" or "cuda-max-memory-allocated"; see bench/memory.py),
   ``sol_ratio`` (median_s / the sol row's median_s; null for the sol row), ``warnings`` (list of
   strings: noise, skipped or failed impls), ``case_spec``; the sol row adds ``sol_work`` (what
   the work is). Medians and throughputs are null when an impl could not run.

   A comparison, one per neuron, case and mode where both impls ran: ``neuron``, ``case``,
   ``device``, ``dtype``, ``mode``, ``speedup`` (median over pairs of reference_s / native_s: > 1
   means ours is faster), ``ci`` ([lo, hi], 95% percentile bootstrap of that median), ``ratios``
   (the raw paired ratios), ``n_pairs``.

2. Implementations: compare records gain ``impl`` (the judged implementation's name: "native",
   or a user's MODULE:CLASS or entry-point name), ``impl_info`` ({name, kind, class, version,
   package}), ``compared`` ({field: "every step" | "last step"}: what was compared, following the
   implementation's call), ``not_compared`` ({field or "gradient of NAME": why not}), and where
   the step-by-step check could not run ``stepwise_note``; a failing user implementation in a
   case where the reference departs from its documentation gets a ``hint``. Bench records gain
   ``impl_info`` and ``train_fields`` (the fields that took an upstream gradient in train mode);
   ``impl`` may name a user's implementation. Comparisons gain ``impl`` (one per implementation
   other than the reference: its speedup over the reference). Upgrade from 1: ``impl`` = "native"
   on compare records and comparisons. A float32 compare record gains ``float64_truth``: ours run
   in float64 on the same case ({factor, trust, fields: {name: {reference, ours, judged}},
   gradients: {...}}: each one's distance from that truth, max abs for fields, max rel for
   gradients; or {note} where it was not used), and a field or gradient excused by it carries
   ``excused`` (why). A gradient with elements non-finite on both sides alike carries
   ``non_finite`` (their count). New kind "fuzz" (``snnbench fuzz``): ``results`` holds one record
   per failure found ({neuron, case, impl, case_file, reason, case_spec}), and the report adds
   ``runs`` ([{neuron, cases, refused, verdicts: {dtype: {verdict: count}}, seconds, failed}]),
   ``seed``, ``budget_s``, ``impl`` and ``dtypes``. Compare records gain ``judged_spike_rate``
   (the judged implementation's), and ``impl_info`` of ours gains ``documented`` (the departures
   ours ran as documented: those the installed reference does not show). Compare and bench
   reports gain ``skipped_neurons`` ({neuron: why}) where 'all' left out a neuron the installed
   libraries lack. New kind "audit" (``snnbench audit``): one record per departure of
   snnbench/departures/records.toml: {neuron, departure, library, version, documented, actual,
   holds (its probe on the installed library: true, false, or null where the neuron or feature is
   absent), method ("ours with the documented behaviour vs the reference", "measured on the
   reference", "probe", "not shown", "absent"), case and case_spec (for the first method), dtype,
   effect ({summary, and for the first method spike_rate {documented, actual},
   first_divergent_step, fields {name: max abs}, gradients {name: max rel}, verdict, reason; for a
   measure its value})}. Compare records gain ``release`` (the installed references, e.g. "snntorch 0.7.0, sinabs
   1.2.10"): ``merge`` keeps records of different releases apart.

3. Machines, noise and A/B runs. The environment gains ``fingerprint`` (see env.py: CPU model,
   vendor, family, model and stepping, the ISA torch uses, cores, memory, BLAS and threading
   build, GPU, driver, CUDA, cuDNN, triton); "same machine" is judged on it, and an environment
   without one is an unknown machine. Bench records gain ``noise`` ({wall_s, threads, cores,
   loadavg_before, loadavg_after, steal, others_cores}; bench/noise.py), with a "busy machine:
   ..." warning when another process or the hypervisor competed. A merge of bench reports keeps
   their ``settings`` (and a sweep's ``sweep``), which must agree.

   A new kind, "ab" (``snnbench bench --rev REV`` and ``snnbench gate --rev REV``): our
   implementation as of git revision REV ("base") and as in the working tree ("current"), timed
   in one run, round by round (bench/ab.py). Top level adds ``revisions`` ({base: {rev, commit,
   snnbench, api}, current: {rev, commit, dirty, snnbench, api}}) and ``settings`` (as a bench
   report's, plus ``order``). One record per neuron, case, mode: ``neuron``, ``case``,
   ``device``, ``dtype``, ``mode``, ``impl`` ("native"), ``base`` and ``current`` (each
   {``samples_s``, ``median_s``, ``iqr_s``, ``peak_mem_bytes``, ``error``}), ``ratios`` (round
   i: current's seconds / base's seconds), ``slowdown`` (their median: > 1 means the working
   tree is slower), ``ci`` ([lo, hi], 95% bootstrap of that median), ``n_pairs``,
   ``mem_method``, ``train_fields``, ``noise``, ``warnings``, ``case_spec``. Upgrade from 2: nothing to change (no fingerprint
   means an unknown machine; no noise means none was recorded).

   Strict JSON: a number that is not finite (NaN, an infinity) is written as ``null``, and the
   report's ``non_finite`` lists each one as ``{path, value}``: its JSON Pointer (RFC 6901, e.g.
   ``/results/0/forward/spk/max_abs``) and what it was (``"nan"``, ``"inf"`` or ``"-inf"``);
   reading a report puts the values back. Field types are checked on reading (see schema.py).
   Upgrade from 2: nothing to change (a version-2 file may hold ``NaN``/``Infinity`` tokens,
   which are read as the numbers they stand for).

Reading: a file with a newer schema than this version knows is refused with one line; older
versions are upgraded step by step by the functions in ``UPGRADES``; then every field a reader
uses is checked against its type (:mod:`snnbench.schema`), so a malformed report is one line
naming the file, the record and the key.

Writing: atomically (a temporary file in the same folder, then a rename), only over a regular
file (see :mod:`snnbench.outputs`), with the user's umask for a new file and the old file's mode
for a replaced one.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from snnbench import __version__, outputs, schema
from snnbench.errors import ReportError

SCHEMA_VERSION = 3
KINDS = schema.KINDS
REPORTS_DIR = Path("reports")

# What identifies a record of each kind (no two records of one report share it).
COMPARE_KEY = ("neuron", "case", "device", "dtype", "impl")
BENCH_KEY = ("neuron", "case", "device", "dtype", "mode", "impl")
COMPARISON_KEY = ("neuron", "case", "device", "dtype", "mode", "impl")
RECORD_KEYS = {"compare": COMPARE_KEY, "bench": BENCH_KEY, "ab": BENCH_KEY}
# merge keeps records of the same case from different releases of a reference apart (a release matrix)
MERGE_KEYS = {"compare": COMPARE_KEY + ("release",), "bench": BENCH_KEY, "ab": BENCH_KEY,
              "fuzz": ("neuron", "case", "release"), "audit": ("neuron", "departure", "version")}


def _upgrade_1(report: dict) -> dict:
    """1 -> 2: every compare record and comparison of a version-1 report judged ours."""
    if report.get("kind") == "compare":
        for record in report.get("results") or []:
            if isinstance(record, dict):
                record.setdefault("impl", "native")
    for comparison in report.get("comparisons") or []:
        if isinstance(comparison, dict):
            comparison.setdefault("impl", "native")
    return report


def _upgrade_2(report: dict) -> dict:
    """2 -> 3: only additions (fingerprint, noise, the "ab" kind) and strict JSON on writing; a
    version-2 report reads as it is."""
    return report


# version n -> function upgrading a version-n report dict to version n+1
UPGRADES: dict[int, Callable[[dict], dict]] = {1: _upgrade_1, 2: _upgrade_2}


def new_report(kind: str, environment: dict, results: list[dict], **extra: Any) -> dict:
    report = {
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "snnbench": __version__,
        "command": sys.argv[:],
        "environment": environment,
        "results": results,
    }
    report.update(extra)
    return report


def default_path(kind: str) -> Path:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    path = REPORTS_DIR / f"{kind}-{stamp}.json"
    n = 1
    while path.exists():
        n += 1
        path = REPORTS_DIR / f"{kind}-{stamp}-{n}.json"
    return path


# ---------------------------------------------------------------- strict JSON

def _pointer_part(key: Any) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _finite_copy(value: Any, path: str, notes: list[dict]) -> Any:
    """``value`` with every non-finite float replaced by None, each noted as {path, value}."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        notes.append({"path": path, "value": "nan" if value != value else "inf" if value > 0 else "-inf"})
        return None
    if isinstance(value, dict):
        return {k: _finite_copy(v, f"{path}/{_pointer_part(k)}", notes) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_copy(v, f"{path}/{i}", notes) for i, v in enumerate(value)]
    if not isinstance(value, (str, int, bool)) and value is not None and hasattr(value, "tolist"):
        return _finite_copy(value.tolist(), path, notes)    # numpy and torch values
    return value


def _json_default(value: Any):
    return str(value)


def to_json(report: dict) -> str:
    """The report as strict JSON: non-finite numbers as null, listed under ``non_finite``."""
    notes: list[dict] = []
    body = _finite_copy({k: v for k, v in report.items() if k != "non_finite"}, "", notes)
    if notes:
        body["non_finite"] = notes
    return json.dumps(body, indent=1, default=_json_default, allow_nan=False) + "\n"


def _restore_non_finite(report: dict, source: Path) -> None:
    """Put back the numbers ``non_finite`` lists (written as null) and drop the list."""
    notes = report.pop("non_finite", [])
    found = schema.problem(notes, schema.ListOf(schema.Record(
        {"path": schema.STR, "value": schema.one_of(*schema.NON_FINITE)}, required=("path", "value"))))
    if found:
        raise ReportError(f"{source}: malformed report: key 'non_finite{found[0]}' {found[1]}")
    for note in notes:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in note["path"].split("/")[1:]]
        holder: Any = report
        try:
            for part in parts[:-1]:
                holder = holder[int(part)] if isinstance(holder, list) else holder[part]
            last = int(parts[-1]) if isinstance(holder, list) else parts[-1]
            ok = holder[last] is None
        except (KeyError, IndexError, ValueError, TypeError):
            ok = False
        if not ok or not parts:
            raise ReportError(f"{source}: malformed report: non_finite names {note['path']!r}, "
                              "which is not a null in the report")
        holder[last] = float(note["value"])


# ---------------------------------------------------------------- writing

def save(report: dict, path: str | Path) -> Path:
    """Write a report as strict JSON, atomically (see :func:`write_bytes`)."""
    return write_text(to_json(report), path)


def write_text(text: str, path: str | Path) -> Path:
    return write_bytes(text.encode(), path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(data: bytes, path: str | Path) -> Path:
    """Write a file atomically: a temporary file in the same folder, fsync, then rename over the
    target, so an interrupt never leaves a half-written file. Only a regular file (or a new one)
    is replaced; through a link, the file it points to. A new file gets the user's umask (0666 &
    ~umask), a replaced one keeps its mode. Returns the path as given."""
    path = Path(path)
    target = path.resolve() if path.is_symlink() else path
    why = outputs.not_a_regular_file(target)
    if why:
        raise ReportError(f"{path}: {why}; not written")
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    except OSError as exc:
        raise ReportError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise ReportError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise ReportError(f"{path}: cannot write: {exc.strerror or exc}") from None
        raise
    outputs.record_written(path)
    return path


# ---------------------------------------------------------------- reading

def load(path: str | Path, kind: str | None = None) -> dict:
    """Read a report, upgrading older schema versions and checking every field's type; one-line
    ReportError on any problem."""
    path = Path(path)
    if not path.exists():
        raise ReportError(f"{path}: no such report")
    if not path.is_file():
        raise ReportError(f"{path}: " + (outputs.not_a_regular_file(path) or "not a regular file")
                          .replace("snnbench writes only regular files", "not a report"))
    try:
        report = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}): "
                          "truncated or not a report") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from None
    except RecursionError:
        raise ReportError(f"{path}: nested too deeply to be a report") from None
    if not isinstance(report, dict) or "schema_version" not in report:
        raise ReportError(f"{path}: not an snnbench report (no schema_version)")
    version = report["schema_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ReportError(f"{path}: malformed schema_version {version!r}")
    if version > SCHEMA_VERSION:
        raise ReportError(f"{path}: schema_version {version} is newer than this snnbench reads "
                          f"({SCHEMA_VERSION}); upgrade snnbench")
    if report.get("kind") not in KINDS:
        raise ReportError(f"{path}: unknown report kind {report.get('kind')!r}")
    while version < SCHEMA_VERSION:
        report = UPGRADES[version](report)
        version = report["schema_version"] = version + 1
    if kind is not None and report["kind"] != kind:
        raise ReportError(f"{path}: a {report['kind']} report, expected {kind}")
    _restore_non_finite(report, path)
    wrong = schema.check_report(report)
    if wrong:
        raise ReportError(f"{path}: malformed report: {wrong}")
    return report
