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

The rounds stop as ``bench``'s do: when the slower revision has spent ``min_time_s`` and there
have been at least ``min_repeats`` rounds (at most ``max_repeats``); the command line asks for
at least ``MIN_PAIRS`` rounds (bench's 7 leave the interval of a median of ratios to two order
statistics, and on a busy machine a slow case reaches ``min_time_s`` in its first rounds). A noise probe runs around
the rounds (bench/noise.py; the workers' own CPU time counts as ours). With memory on, each
worker then measures the peak of its call in its own process (bench/memory.py).

The train fields (which outputs get an upstream gradient) are the working tree's: those its
native call and the reference expose at every step; a base that does not return one of them
cannot run the case. A case one revision cannot build or run is recorded with that revision's
error (one line) and not timed.
"""

from __future__ import annotations

import json
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


class WorkerFailed(SnnbenchError):
    """A worker process died or answered nonsense (not an error of one case)."""


class Worker:
    """One revision's worker process and its line protocol."""

    def __init__(self, side: str, tree: revision.Tree):
        self.side, self.tree = side, tree
        self.info: dict = {}
        self.stderr = tempfile.TemporaryFile(mode="w+")
        environ = dict(os.environ)
        environ["PYTHONPATH"] = os.pathsep.join([str(tree.path)] + [p for p in [environ.get("PYTHONPATH")] if p])
        environ["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen([sys.executable, "-P", str(WORKER), str(tree.path)], cwd=str(tree.path), env=environ,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                     text=True, bufsize=1)

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


def _start(trees: dict[str, revision.Tree]) -> dict[str, Worker]:
    workers: dict[str, Worker] = {}
    try:
        for side in SIDES:
            workers[side] = Worker(side, trees[side])
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
           on_result: Callable[[dict], None] | None = None) -> dict:
    """The A/B report of the selected cases: our implementation at REV against the working tree's."""
    current = revision.checkout(where)
    with revision.temporary_worktree(current.path, rev) as base:
        workers = _start({"base": base, "current": current})
        try:
            t = options.timing
            for w in workers.values():
                w.must("setup", threads=options.threads, device=options.device, dtype=options.dtype,
                       warmup_calls=t.warmup_calls, warmup_s=t.warmup_s)
            records = []
            for case in selected:
                for record in _case(case, options, workers):
                    records.append(record)
                    if on_result:
                        on_result(record)
        except BaseException:
            for w in workers.values():
                w.stop(now=True)
            raise
        for w in workers.values():
            w.stop()
        revisions = {side: {**tree.record(), "snnbench": workers[side].info.get("snnbench"),
                            "api": workers[side].info.get("api")}
                     for side, tree in (("base", base), ("current", current))}
    return results.new_report("ab", env.collect(options.device), records, revisions=revisions,
                              settings={**settings_record(options), "order": ORDER})


def _both(workers: dict[str, Worker], op: str, **fields) -> dict[str, dict]:
    """Send one request to both workers at once (they work in parallel), then read both answers."""
    for w in workers.values():
        w.send(op, **fields)
    return {side: w.receive() for side, w in workers.items()}


def _case(case: Case, options: Options, workers: dict[str, Worker]) -> list[dict]:
    spec = cases.to_spec(case)
    built = _both(workers, "build", case_spec=spec)
    errors = {side: f"cannot build: {a['error']}" for side, a in built.items() if not a.get("ok")}
    records = []
    try:
        for mode in options.modes:
            train_fields = built["current"].get("fields", []) if mode == "train" else []
            records.append(_mode(case, mode, options, workers, dict(errors), train_fields))
    finally:
        _both(workers, "close")
    return records


def _mode(case: Case, mode: str, options: Options, workers: dict[str, Worker], errors: dict[str, str],
          train_fields: list[str]) -> dict:
    for side, w in workers.items():
        if side not in errors:
            answer = w.ask("prepare", mode=mode, train_fields=train_fields)
            if not answer.get("ok"):
                errors[side] = answer["error"]
    samples: dict[str, list[float]] = {side: [] for side in SIDES}
    peaks: dict[str, int | None] = dict.fromkeys(SIDES)
    busy, mem_method = None, None
    if not errors:
        busy = _rounds(options, workers, samples, errors)
    if not errors and options.memory:
        for side, w in workers.items():
            answer = w.ask("memory", calls=3)
            if answer.get("ok"):
                peaks[side], mem_method = answer["peak_bytes"], answer["mem_method"]
            else:
                errors.setdefault("memory", answer["error"])
    return _record(case, mode, options, samples, peaks, mem_method, errors, busy, train_fields)


def _rounds(options: Options, workers: dict[str, Worker], samples: dict[str, list[float]],
            errors: dict[str, str]) -> dict:
    t = options.timing
    before = sum(w.must("usage")["cpu_s"] for w in workers.values())
    probe = noise.Probe(options.threads)
    totals = dict.fromkeys(SIDES, 0.0)
    rounds = 0
    while rounds < t.max_repeats and (rounds < t.min_repeats or max(totals.values()) < t.min_time_s):
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


def _record(case: Case, mode: str, options: Options, samples: dict[str, list[float]], peaks: dict,
            mem_method: str | None, errors: dict[str, str], busy: dict | None, train_fields: list[str]) -> dict:
    n = min(len(samples["base"]), len(samples["current"]))
    ratios = stats.paired_ratios(samples["current"][:n], samples["base"][:n]) if n else []
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
    lo, hi = stats.bootstrap_median_ci(ratios) if ratios else (None, None)
    return {
        "neuron": case.neuron, "case": case.name, "device": options.device, "dtype": options.dtype,
        "mode": mode, "impl": IMPL,
        "base": _side(samples["base"], peaks["base"], errors.get("base")),
        "current": _side(samples["current"], peaks["current"], errors.get("current")),
        "ratios": ratios, "slowdown": stats.median(ratios) if ratios else None,
        "ci": [lo, hi] if ratios else None,
        "n_pairs": len(ratios), "mem_method": mem_method,
        "train_fields": list(train_fields) if mode == "train" else None,
        "noise": busy, "warnings": warnings, "case_spec": cases.to_spec(case),
    }
