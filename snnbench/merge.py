"""Join reports of the same kind into one, e.g. the shards of a CI matrix (``compare --shard I/N``).

Results (and, for bench reports, comparisons) are concatenated in the order given; the same
record twice (same neuron, case, device, dtype, implementation, and for bench mode) is an error, since
one of the two would silently win. Every input's environment is kept, in order, under
``environments`` (an input that is itself a merge contributes its own list); the first is also
``environment``, so a merged report reads like any other.

What a report says about the whole run is kept too, and must agree: a bench report's
``settings`` (timing and memory; runs made with other settings are not one measurement, so
they are refused with the setting that differs) and a sweep's ``sweep``; an A/B report's
``settings`` and ``revisions`` (two A/B runs of different revisions are not one comparison).
OUT is a new file: an existing one is replaced only with ``force`` (``merge --force``), and never
when it is one of the inputs (see snnbench/outputs.py).
"""

from __future__ import annotations

from snnbench import outputs, results
from snnbench.errors import ReportError


def _join(lists: list[tuple[str, list[dict]]], fields: tuple[str, ...], what: str) -> list[dict]:
    seen: dict[tuple, str] = {}
    out: list[dict] = []
    for source, records in lists:
        for record in records:
            key = tuple(record.get(f) for f in fields)
            if key in seen:
                label = "/".join(str(k) for k in key if k is not None)
                raise ReportError(f"{source}: duplicate {what} {label} (already in {seen[key]})")
            seen[key] = source
            out.append(record)
    return out


WHOLE_RUN = {"bench": ("settings", "sweep"), "ab": ("settings", "revisions")}


def _agree(reports: list[dict], sources: list[str], key: str) -> None:
    """Every report has the same ``key`` (or none has it); one line naming what differs if not."""
    first = reports[0].get(key)
    for report, source in zip(reports[1:], sources[1:]):
        value = report.get(key)
        if value == first:
            continue
        if isinstance(first, dict) and isinstance(value, dict):
            diff = next(k for k in sorted(set(first) | set(value), key=str) if first.get(k) != value.get(k))
            what = f"{key}.{diff}: {first.get(diff)!r} in {sources[0]}, {value.get(diff)!r} here"
        else:
            what = f"{key}: {'present' if first is not None else 'absent'} in {sources[0]}, " \
                   f"{'present' if value is not None else 'absent'} here"
        raise ReportError(f"{source}: {what}; merge joins reports of one run's {key}")


def merge(reports: list[dict], sources: list[str]) -> dict:
    """One report from several loaded reports of one kind; ``sources`` names them in errors."""
    if not reports:
        raise ReportError("merge needs at least one report")
    kind = reports[0]["kind"]
    for report, source in zip(reports, sources):
        if report["kind"] != kind:
            raise ReportError(f"{source} is a {report['kind']} report but {sources[0]} is a {kind} "
                              "report: merge joins reports of the same kind")
    merged_results = _join([(s, r["results"]) for r, s in zip(reports, sources)], results.MERGE_KEYS[kind], "result")
    environments: list[dict] = []
    for report in reports:
        environments.extend(report.get("environments") or [report["environment"]])
    extra: dict = {"environments": environments, "merged_from": list(sources)}
    for key in WHOLE_RUN.get(kind, ()):
        _agree(reports, sources, key)
        if key in reports[0]:
            extra[key] = reports[0][key]
    if kind == "bench":
        extra["comparisons"] = _join([(s, r.get("comparisons") or []) for r, s in zip(reports, sources)],
                                     results.COMPARISON_KEY, "comparison")
    return results.new_report(kind, environments[0], merged_results, **extra)


def merge_files(out: str, inputs: list[str], force: bool = False) -> tuple[dict, str]:
    """Check OUT, load, merge, save atomically; the merged report and where it went."""
    outputs.check({"OUT": out}, inputs, replace=force)
    reports = [results.load(path) for path in inputs]
    report = merge(reports, [str(p) for p in inputs])
    return report, str(results.save(report, out))
