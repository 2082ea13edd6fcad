#!/usr/bin/env python3
"""Compare (and audit) every neuron under several releases of the reference libraries.

Each pair of releases runs in its own virtual environment: a fresh venv holding just those two
releases (installed from the package index, without their dependencies), which reaches torch,
snnbench and the rest through the environment this script runs in (a ``.pth`` line adds its
site-packages after the venv's own, so the venv's snntorch and sinabs come first). In each, it runs
``snnbench compare all --dtype all`` and ``snnbench audit all``, then merges every compare report
into one (``snnbench merge``: each record carries its ``release``) and prints a table of verdicts.

    python scripts/release_matrix.py                          # oldest and newest of each library
    python scripts/release_matrix.py --pair 0.7.0:1.2.10 --pair 0.8.1:2.0.3
    python scripts/release_matrix.py --all                    # every release from snntorch 0.7.0, sinabs 1.2.9

Exit 0 when every verdict is pass or skipped under every pair, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import sysconfig
from pathlib import Path

SNNTORCH = ["0.7.0", "0.8.0", "0.8.1", "0.9.0", "0.9.1", "0.9.4", "1.0.0"]
SINABS = ["1.2.9", "1.2.10", "2.0.0", "2.0.1", "2.0.2", "2.0.3", "3.0.0", "3.0.1", "3.0.2", "3.0.3", "3.0.4",
          "3.1.0", "3.1.1", "3.1.2", "3.1.3"]


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, **kwargs)


def make_venv(root: Path, snntorch: str, sinabs: str) -> Path:
    """A venv with these two releases first on its path, the running environment's packages after."""
    venv = root / f"venv-snntorch-{snntorch}-sinabs-{sinabs}"
    python = venv / "bin" / "python"
    if not python.exists():
        run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   check=True, capture_output=True, text=True).stdout.strip())
        here = sysconfig.get_paths()["purelib"]
        (site / "zz_snnbench_matrix.pth").write_text(f"import site; site.addsitedir({here!r})\n")
        run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
             f"snntorch=={snntorch}", f"sinabs=={sinabs}"], check=True)
    return python


def run_pair(root: Path, snntorch: str, sinabs: str, extra: list[str]) -> tuple[Path, dict]:
    python = make_venv(root, snntorch, sinabs)
    tag = f"snntorch-{snntorch}-sinabs-{sinabs}"
    versions = subprocess.run([str(python), "-c", "import snntorch, sinabs; print(snntorch.__version__, "
                               "sinabs.__version__)"], check=True, capture_output=True, text=True).stdout.split()
    if versions != [snntorch, sinabs]:
        raise SystemExit(f"{tag}: the venv imports snntorch {versions[0]} and sinabs {versions[1]}")
    compare = root / f"compare-{tag}.json"
    done = run([str(python), "-m", "snnbench", "compare", "all", "--dtype", "all", "--json", str(compare), *extra])
    if done.returncode not in (0, 1):
        raise SystemExit(f"{tag}: compare exited {done.returncode}")
    run([str(python), "-m", "snnbench", "audit", "all", "--json", str(root / f"audit-{tag}.json")], check=True)
    return compare, json.loads(compare.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pair", action="append", default=[], metavar="SNNTORCH:SINABS")
    parser.add_argument("--all", action="store_true", help="every release of each library (paired newest-first)")
    parser.add_argument("--out", type=Path, default=Path("reports") / "matrix")
    parser.add_argument("--case", action="append", default=[], help="passed on to compare (repeatable)")
    args = parser.parse_args()
    if args.pair:
        pairs = [tuple(p.split(":")) for p in args.pair]
    elif args.all:
        pairs = [(st, SINABS[min(i, len(SINABS) - 1)]) for i, st in enumerate(SNNTORCH)] + \
                [(SNNTORCH[-1], sb) for sb in SINABS]
    else:
        pairs = [(SNNTORCH[0], SINABS[0]), (SNNTORCH[-1], SINABS[-1])]
    args.out.mkdir(parents=True, exist_ok=True)
    extra = [x for case in args.case for x in ("--case", case)]
    reports, ok = [], True
    for snntorch, sinabs in dict.fromkeys(pairs):
        path, report = run_pair(args.out, snntorch, sinabs, extra)
        reports.append(path)
        counts: dict[str, int] = {}
        for record in report["results"]:
            counts[record["verdict"]] = counts.get(record["verdict"], 0) + 1
        ok &= set(counts) <= {"pass", "skipped"}
        skipped = report.get("skipped_neurons") or {}
        print(f"snntorch {snntorch:7} sinabs {sinabs:7}  " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
              + "".join(f"; {n}: {why}" for n, why in skipped.items()), flush=True)
    merged = args.out / "matrix-compare.json"
    merged.unlink(missing_ok=True)
    run([sys.executable, "-m", "snnbench", "merge", str(merged), *map(str, reports)], check=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
