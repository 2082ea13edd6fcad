"""A/B: our implementation as of a git revision (the base) against the working tree's (the
current), timed in one run on one machine: ``snnbench bench --rev REV`` and ``gate --rev REV``.

REV is checked out into a temporary git worktree (snnbench/revision.py). One worker process per
revision (bench/ab_worker.py, run with that revision's tree first on ``PYTHONPATH``) imports its
own revision's snnbench and neurons; the coordinator (this module, the snnbench you run) sends
both the same cases (the working tree's case specs), and, case by case and mode by mode, asks
each to build, warm up, then time one call at a time, taking turns: base then current in even
rounds, current then base in odd ones, so neither always runs right after the other. Every raw
sample is kept. Round i's ratio is current's seconds / base's seconds: ``slowdown`` is the
median of those ratios (> 1: the working tree is slower), with a 95% bootstrap interval. Both
figures come from the same minutes on the same machine, so they hold across machines by
construction: no baseline report, no fingerprint to match.

A process has its own luck, above all the core it runs on. On a 2-core VM (a LeakyParallel
case of 0.8 ms, 1 thread) two workers of the *same* code, each left where the scheduler put it,
measured up to 35% apart with tight intervals: a core shared with a busy neighbour is slower
for whichever worker sits on it. So both workers of a pair are pinned to the same ``threads``
CPUs (:func:`shared_cpus`; the same 4 runs then read within 1.5% of each other), and the rounds
are spread over ``processes`` pairs of workers (default :data:`PROCESSES`), started one pair
after the other on the next CPUs, each running every case. The interval is a two-stage
bootstrap over the pairs and then their rounds
(:func:`snnbench.bench.stats.bootstrap_median_ci_clustered`): what still differs from one
process to the next widens it rather than passing for a change of the code. ``ratio_process``
says which pair each ratio came from.

The rounds stop as ``bench``'s do, split over the pairs: in each pair, when the slower revision
has spent ``min_time_s / processes`` and there have been at least ``min_repeats / processes``
rounds (rounded up; at most ``max_repeats / processes``); the command line asks for at least
``MIN_PAIRS`` rounds in all (bench's 7 leave the interval of a median of ratios to two order
statistics, and on a busy machine a slow case reaches ``min_time_s`` in its first rounds). A
noise probe runs around the rounds (bench/noise.py; the workers' own CPU time counts as ours;
the record keeps the busiest pair's). With memory on, the first pair's workers then measure the
peak of their call in their own processes (bench/memory.py).

The train fields (which outputs get an upstream gradient) are the working tree's: those its
native call and the reference expose at every step; a base that does not return one of them
cannot run the case. A case one revision cannot build or run is recorded with that revision's
error (one line) and not timed.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from snnbench import cases, env, results, revision
from snnbench.bench import noise, stats
from snnbench.bench.runner import Options, settings_record
from snnbench.cases import Case
from snnbench.errors import SnnbenchError

WORKER = Path(__file__).resolve().parent / "ab_worker.py"
SIDES = ("base", "current")
IMPL = "native"
ORDER = "alternating: base first in even rounds, current first in odd rounds"
MIN_PAIRS = 15            # rounds at least, unless --quick
PROCESSES = 4             # pairs of worker processes the rounds are spread over
MAX_PROCESSES = 64


class WorkerFailed(SnnbenchError):
    """A worker process died or answered nonsense (not an error of one case)."""


class Worker:
    """One revision's worker process and its line protocol."""

    def __init__(self, side: str, tree: revision.Tree, cpus: set[int] | None = None):
        self.side, self.tree = side, tree
        self.info: dict = {}
        self.stderr = tempfile.TemporaryFile(mode="w+")
        environ = dict(os.environ)
        environ["PYTHONPATH"] = os.pathsep.join([str(tree.path)] + [p for p in [environ.get("PYTHONPATH")] if p])
        environ["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen([sys.executable, "-P", str(WORKER), str(tree.path)], cwd=str(tree.path), env=environ,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                     text=True, bufsize=1,
                                     preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)

    def send(self, op: str, **fields) -> None:
        try:
            self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died() from None

    def receive(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise self._died()
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            raise WorkerFailed(f"the {self.side} worker answered something that is not JSON: {line[:80]!r}") from None

    def ask(self, op: str, **fields) -> dict:
        self.send(op, **fields)
        return self.receive()

    def must(self, op: str, **fields) -> dict:
        """A request that must succeed (no case involved): its failure ends the run."""
        answer = self.ask(op, **fields)
        if not answer.get("ok"):
            raise WorkerFailed(f"{self.tree.label}: {op} failed: {answer.get('error')}")
        return answer

    def _died(self) -> WorkerFailed:
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.stderr.seek(0)
        lines = [ln for ln in self.stderr.read().strip().splitlines() if ln.strip()]
        return WorkerFailed(f"the worker for {self.tree.label} stopped (exit {self.proc.returncode}): "
                            f"{lines[-1].strip() if lines else 'no output'}")

    def stop(self, now: bool = False) -> None:
        """Ask the worker to exit (``now``: kill it, after an error or an interrupt) and reap it."""
        if now and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "exit"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout, self.stderr):
            try:
                pipe.close()
            except OSError:
                pass


def shared_cpus(k: int, threads: int) -> set[int] | None:
    """The CPUs both workers of pair ``k`` run on: ``threads`` of this process's CPUs, from the
    ``k * threads``-th on (so the pairs take turns on the cores). None where the workers need all
    of them or the platform cannot pin."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    available = sorted(os.sched_getaffinity(0))
    if threads >= len(available):
        return None
    start = k * threads
    return {available[(start + i) % len(available)] for i in range(threads)}


def _start(trees: dict[str, revision.Tree], cpus: set[int] | None = None) -> dict[str, Worker]:
    workers: dict[str, Worker] = {}
    try:
        for side in SIDES:
            workers[side] = Worker(side, trees[side], cpus)
        for w in workers.values():
            w.send("hello")
        for side, w in workers.items():
            answer = w.receive()
            if not answer.get("ok"):
                raise WorkerFailed(f"{w.tree.label}: its snnbench does not import: {answer.get('error')}")
            _check_served(w, answer)
        return workers
    except BaseException:
        for w in workers.values():
            w.stop(now=True)
        raise


def _check_served(w: Worker, hello: dict) -> None:
    if Path(hello["root"]) != w.tree.path.resolve():
        raise WorkerFailed(f"the worker for {w.tree.label} imported snnbench from {hello['root']}, not from "
                           f"{w.tree.path} (an installed snnbench shadows it?)")
    if hello.get("api") is None:
        raise SnnbenchError(f"--rev {w.tree.label}: too old to compare: its snnbench has neither "
                            "snnbench.implementations nor snnbench.registry with cases.from_spec")
    w.info = hello


def run_ab(selected: list[Case], options: Options, rev: str, where: Path | None = None,
           on_step: Callable[[str], None] | None = None, processes: int = PROCESSES) -> dict:
    """The A/B report of the selected cases: our implementation at REV against the working tree's,
    timed in ``processes`` pairs of worker processes. ``on_step(label)`` after each case and mode
    of each pair (``processes * len(selected) * len(options.modes)`` calls)."""
    if not 1 <= processes <= MAX_PROCESSES:
        raise SnnbenchError(f"--processes must be 1 to {MAX_PROCESSES}, got {processes}")
    current = revision.checkout(where)
    parts: dict[tuple[int, str], list[dict]] = {}
    train: dict[tuple[int, str], list[str]] = {}
    with revision.temporary_worktree(current.path, rev) as base:
        for k in range(processes):
            workers = _start({"base": base, "current": current}, shared_cpus(k, options.threads))
            try:
                t = options.timing
                for w in workers.values():
                    w.must("setup", threads=options.threads, device=options.device, dtype=options.dtype,
                           warmup_calls=t.warmup_calls, warmup_s=t.warmup_s)
                for i, case in enumerate(selected):
                    for mode, part, fields in _case(case, options, workers, k, processes):
                        parts.setdefault((i, mode), []).append(part)
                        train.setdefault((i, mode), fields)
                        if on_step:
                            on_step(f"{case.neuron}/{case.name} {mode} ({k + 1}/{processes})")
            except BaseException:
                for w in workers.values():
                    w.stop(now=True)
                raise
            for w in workers.values():
                w.stop()
        revisions = {side: {**tree.record(), "snnbench": workers[side].info.get("snnbench"),
                            "api": workers[side].info.get("api")}
                     for side, tree in (("base", base), ("current", current))}
    records = [_record(case, mode, options, parts[(i, mode)], train[(i, mode)])
               for i, case in enumerate(selected) for mode in options.modes]
    return results.new_report("ab", env.collect(options.device), records, revisions=revisions,
                              settings={**settings_record(options), "order": ORDER, "processes": processes})


def _both(workers: dict[str, Worker], op: str, **fields) -> dict[str, dict]:
    """Send one request to both workers at once (they work in parallel), then read both answers."""
    for w in workers.values():
        w.send(op, **fields)
    return {side: w.receive() for side, w in workers.items()}


def _case(case: Case, options: Options, workers: dict[str, Worker], k: int, processes: int):
    """(mode, what pair ``k`` measured, the train fields) for each mode of one case."""
    spec = cases.to_spec(case)
    built = _both(workers, "build", case_spec=spec)
    errors = {side: f"cannot build: {a['error']}" for side, a in built.items() if not a.get("ok")}
    out = []
    try:
        for mode in options.modes:
            train_fields = built["current"].get("fields", []) if mode == "train" else []
            out.append((mode, _mode(mode, options, workers, dict(errors), train_fields, k, processes), train_fields))
    finally:
        _both(workers, "close")
    return out


def _mode(mode: str, options: Options, workers: dict[str, Worker], errors: dict[str, str],
          train_fields: list[str], k: int, processes: int) -> dict:
    """One pair's part of a case and mode: its samples, errors, noise and (first pair) peaks."""
    for side, w in workers.items():
        if side not in errors:
            answer = w.ask("prepare", mode=mode, train_fields=train_fields)
            if not answer.get("ok"):
                errors[side] = answer["error"]
    samples: dict[str, list[float]] = {side: [] for side in SIDES}
    peaks: dict[str, int | None] = dict.fromkeys(SIDES)
    busy, mem_method = None, None
    if not errors:
        busy = _rounds(options, workers, samples, errors, processes)
    if not errors and options.memory and k == 0:
        for side, w in workers.items():
            answer = w.ask("memory", calls=3)
            if answer.get("ok"):
                peaks[side], mem_method = answer["peak_bytes"], answer["mem_method"]
            else:
                errors.setdefault("memory", answer["error"])
    return {"samples": samples, "peaks": peaks, "mem_method": mem_method, "errors": errors, "busy": busy}


def _rounds(options: Options, workers: dict[str, Worker], samples: dict[str, list[float]],
            errors: dict[str, str], processes: int) -> dict:
    t = options.timing
    min_repeats, max_repeats = math.ceil(t.min_repeats / processes), max(1, math.ceil(t.max_repeats / processes))
    min_time_s = t.min_time_s / processes
    before = sum(w.must("usage")["cpu_s"] for w in workers.values())
    probe = noise.Probe(options.threads)
    totals = dict.fromkeys(SIDES, 0.0)
    rounds = 0
    while rounds < max_repeats and (rounds < min_repeats or max(totals.values()) < min_time_s):
        for side in (SIDES if rounds % 2 == 0 else SIDES[::-1]):
            answer = workers[side].ask("time")
            if not answer.get("ok"):
                errors[side] = answer["error"]
                break
            samples[side].append(answer["seconds"])
            totals[side] += answer["seconds"]
        if errors:
            break
        rounds += 1
    after = sum(w.must("usage")["cpu_s"] for w in workers.values())
    return probe.finish(workers_cpu_s=after - before)


def _side(samples: list[float], peak: int | None, error: str | None) -> dict:
    return {"samples_s": samples, "median_s": stats.median(samples) if samples else None,
            "iqr_s": stats.iqr(samples) if samples else None, "repeats": len(samples),
            "peak_mem_bytes": peak, "error": error}


def _record(case: Case, mode: str, options: Options, parts: list[dict], train_fields: list[str]) -> dict:
    """One case and mode over all pairs: each pair's rounds, trimmed to whole pairs of calls."""
    samples: dict[str, list[float]] = {side: [] for side in SIDES}
    process_of: list[int] = []
    for k, part in enumerate(parts):
        n = min(len(part["samples"]["base"]), len(part["samples"]["current"]))
        for side in SIDES:
            samples[side] += part["samples"][side][:n]
        process_of += [k] * n
    errors: dict[str, str] = {}
    for part in parts:
        for key, error in part["errors"].items():
            errors.setdefault(key, error)
    peaks, mem_method = parts[0]["peaks"], parts[0]["mem_method"]
    noises = [part["busy"] for part in parts if part["busy"]]
    busy = max(noises, key=lambda r: r.get("others_cores") or 0.0) if noises else None
    ratios = stats.paired_ratios(samples["current"], samples["base"])
    warnings = []
    spreads = {side: stats.iqr(s) / stats.median(s) for side, s in samples.items() if s and stats.median(s) > 0}
    if any(v > stats.NOISY_IQR for v in spreads.values()):
        warnings.append("noisy: IQR " + ", ".join(f"{v:.0%} ({side})" for side, v in spreads.items()) +
                        f" of the median (limit {stats.NOISY_IQR:.0%}); the per-round ratios hold better than "
                        "the times; raise --min-time for a narrower interval")
    if "memory" in errors:
        warnings.append(f"no peak memory: {errors.pop('memory')}")
    if busy and noise.warning(busy):
        warnings.append(noise.warning(busy))
    lo, hi = stats.bootstrap_median_ci_clustered(ratios, process_of) if ratios else (None, None)
    return {
        "neuron": case.neuron, "case": case.name, "device": options.device, "dtype": options.dtype,
        "mode": mode, "impl": IMPL,
        "base": _side(samples["base"], peaks["base"], errors.get("base")),
        "current": _side(samples["current"], peaks["current"], errors.get("current")),
        "ratios": ratios, "slowdown": stats.median(ratios) if ratios else None,
        "ci": [lo, hi] if ratios else None,
        "n_pairs": len(ratios), "ratio_process": process_of, "process_pairs": len(parts),
        "mem_method": mem_method,
        "train_fields": list(train_fields) if mode == "train" else None,
        "noise": busy, "warnings": warnings, "case_spec": cases.to_spec(case),
    }
