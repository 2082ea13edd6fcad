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

Reading: a file with a newer schema than this version knows is refused with one line; older
versions are upgraded step by step by the functions in ``UPGRADES``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from snnbench import __version__
from snnbench.errors import ReportError

SCHEMA_VERSION = 3
KINDS = ("compare", "bench", "ab", "fuzz", "audit")
REPORTS_DIR = Path("reports")

# What identifies a record of each kind (no two records of one report share it).
COMPARE_KEY = ("neuron", "case", "device", "dtype", "impl")
BENCH_KEY = ("neuron", "case", "device", "dtype", "mode", "impl")
COMPARISON_KEY = ("neuron", "case", "device", "dtype", "mode", "impl")
RECORD_KEYS = {"compare": COMPARE_KEY, "bench": BENCH_KEY, "ab": BENCH_KEY}
# merge keeps records of the same case from different releases of a reference apart (a release matrix)
MERGE_KEYS = {"compare": COMPARE_KEY + ("release",), "bench": BENCH_KEY, "ab": BENCH_KEY,
              "fuzz": ("neuron", "case", "release"), "audit": ("neuron", "departure", "version")}
REQUIRED = {"compare": ("neuron", "case", "device", "dtype", "verdict"),
            "bench": ("neuron", "case", "device", "dtype", "mode", "impl", "samples_s", "median_s"),
            "ab": ("neuron", "case", "device", "dtype", "mode", "impl", "base", "current", "ratios"),
            "fuzz": ("neuron", "case", "case_file", "reason"),
            "audit": ("neuron", "departure", "holds", "method", "effect")}


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
    """2 -> 3: only additions (fingerprint, noise, the "ab" kind); a version-2 report reads as is."""
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


def _json_default(value: Any):
    if isinstance(value, float):
        return value
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def save(report: dict, path: str | Path) -> Path:
    """Write a report atomically (see :func:`write_text`)."""
    return write_text(json.dumps(report, indent=1, default=_json_default, allow_nan=True) + "\n", path)


def write_text(text: str, path: str | Path) -> Path:
    """Write text atomically: a temporary file in the same folder, fsync, then rename over the
    target, so an interrupt never leaves a half-written file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ReportError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def load(path: str | Path, kind: str | None = None) -> dict:
    """Read a report, upgrading older schema versions; one-line ReportError on any problem."""
    path = Path(path)
    if not path.exists():
        raise ReportError(f"{path}: no such report")
    try:
        report = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}): "
                          "truncated or not a report") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from None
    if not isinstance(report, dict) or "schema_version" not in report:
        raise ReportError(f"{path}: not an snnbench report (no schema_version)")
    version = report["schema_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ReportError(f"{path}: malformed schema_version {version!r}")
    if version > SCHEMA_VERSION:
        raise ReportError(f"{path}: schema_version {version} is newer than this snnbench reads "
                          f"({SCHEMA_VERSION}); upgrade snnbench")
    while version < SCHEMA_VERSION:
        report = UPGRADES[version](report)
        version = report["schema_version"] = version + 1
    if report.get("kind") not in KINDS:
        raise ReportError(f"{path}: unknown report kind {report.get('kind')!r}")
    if kind is not None and report["kind"] != kind:
        raise ReportError(f"{path}: a {report['kind']} report, expected {kind}")
    results = report.get("results")
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise ReportError(f"{path}: malformed report: 'results' must be a list of records")
    required = REQUIRED[report["kind"]]
    for i, record in enumerate(results):
        missing = [k for k in required if k not in record]
        if missing:
            raise ReportError(f"{path}: malformed report: result {i} lacks {', '.join(missing)}")
    if report["kind"] == "bench":
        comparisons = report.get("comparisons")
        if not isinstance(comparisons, list) or not all(isinstance(c, dict) for c in comparisons):
            raise ReportError(f"{path}: malformed report: 'comparisons' must be a list of records")
        for i, c in enumerate(comparisons):
            missing = [k for k in ("neuron", "case", "device", "dtype", "mode", "speedup", "ci", "ratios",
                                   "n_pairs") if k not in c]
            if missing:
                raise ReportError(f"{path}: malformed report: comparison {i} lacks {', '.join(missing)}")
    if not isinstance(report.get("environment"), dict):
        raise ReportError(f"{path}: malformed report: no 'environment'")
    return report
