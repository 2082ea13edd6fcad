"""The environment a report was made in: versions, CPU/GPU, threads, git commit, and the machine's
fingerprint.

The fingerprint (:func:`fingerprint`) is what makes absolute times comparable: the CPU model
name, vendor, family, model and stepping, the instruction set torch's kernels use
(``torch.backends.cpu.get_cpu_capability()``: AVX2 and AVX512 machines run different kernels),
the logical and usable core counts, the memory (whole GiB), torch's BLAS and threading build,
and, where CUDA is available, the GPU's name, memory and compute capability, the driver, CUDA and
cuDNN versions, and the triton version. Two environments come from the same machine when both
have a fingerprint and the fingerprints are equal (:func:`machine_differences`); the host name
is not part of it (CI runners get a new one each run), and an environment without a
fingerprint (a report made before snnbench recorded one) is an unknown machine, never the same.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

import torch

PACKAGES = ("snnbench", "torch", "snntorch", "sinabs", "numpy", "typer", "rich")


def version_of(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none)."""
    out: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return out
    for line in text.split("\n\n", 1)[0].splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out.setdefault(key.strip(), value.strip())
    return out


def _memory_gib() -> int | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30)
    except (ValueError, OSError, AttributeError):
        return None


def _config_value(text: str, key: str) -> str | None:
    found = re.search(rf"\b{key}=([^,\s]+)", text)
    return found.group(1) if found else None


def _line_with(text: str, *needles: str) -> str | None:
    for line in text.splitlines():
        if any(n in line for n in needles):
            return line.strip(" -\t")
    return None


def build_info() -> dict[str, str | None]:
    """torch's BLAS and threading build, from ``torch.__config__``."""
    try:
        show, parallel = torch.__config__.show(), torch.__config__.parallel_info()
    except Exception:  # an unusual build: the fingerprint records what it can
        return {"blas": None, "blas_build": None, "threading": None}
    backend = _line_with(parallel, "ATen parallel backend")
    threading = backend.partition(":")[2].strip() if backend else None
    if threading == "OpenMP":
        threading = _line_with(parallel, "OpenMP ") or threading
    return {"blas": _config_value(show, "BLAS_INFO"),
            "blas_build": _line_with(show, "Math Kernel Library", "OpenBLAS", "BLIS", "Accelerate", "NVPL"),
            "threading": threading}


def cpu_capability() -> str | None:
    try:
        return torch.backends.cpu.get_cpu_capability()
    except Exception:
        return None


def _nvidia_driver() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0].strip() if out.returncode == 0 and lines else None


def gpu_fingerprint(index: int = 0) -> dict | None:
    """The GPU torch sees first (or ``index``), its driver, CUDA and cuDNN; None without CUDA."""
    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(index)
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {"name": props.name, "memory_bytes": props.total_memory, "capability": f"{props.major}.{props.minor}",
            "count": torch.cuda.device_count(), "driver": _nvidia_driver(), "cuda": torch.version.cuda,
            "cudnn": cudnn}


def fingerprint() -> dict:
    """What identifies this machine for timing purposes (see the module docstring)."""
    info = _cpuinfo()
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {
        "cpu_model": info.get("model name") or platform.processor() or platform.machine(),
        "cpu_vendor": info.get("vendor_id"),
        "cpu_family": info.get("cpu family"),
        "cpu_model_id": info.get("model"),
        "cpu_stepping": info.get("stepping"),
        "cpu_capability": cpu_capability(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "memory_gib": _memory_gib(),
        **build_info(),
        "gpu": gpu_fingerprint(),
        "triton": version_of("triton"),
    }


FINGERPRINT_LABELS = {"cpu_model": "CPU", "cpu_vendor": "CPU vendor", "cpu_family": "CPU family",
                      "cpu_model_id": "CPU model number", "cpu_stepping": "CPU stepping",
                      "cpu_capability": "CPU capability (ISA torch uses)", "cpu_count": "cores",
                      "cpus_usable": "usable cores", "memory_gib": "memory (GiB)", "blas": "BLAS",
                      "blas_build": "BLAS build", "threading": "threading", "gpu": "GPU", "triton": "triton"}


def _environments(report_or_env: dict) -> list[dict]:
    """The environments of a report (several for a merge), or the one environment given."""
    if "environment" in report_or_env or "environments" in report_or_env:
        envs = report_or_env.get("environments") or [report_or_env.get("environment")]
    else:
        envs = [report_or_env]
    return [e for e in envs if isinstance(e, dict)]


def machine_differences(a: dict, b: dict) -> list[str] | None:
    """How the machines (and torch thread counts) of two reports or environments differ: [] when
    they are the same; None when that cannot be told (an environment without a fingerprint).
    A merged report counts as one machine only when all its environments agree."""
    envs_a, envs_b = _environments(a), _environments(b)
    if not envs_a or not envs_b or any(not isinstance(e.get("fingerprint"), dict) for e in envs_a + envs_b):
        return None
    first = envs_a[0]
    out: list[str] = []
    for other in envs_a[1:] + envs_b:
        for key in sorted(set(first["fingerprint"]) | set(other["fingerprint"])):
            x, y = first["fingerprint"].get(key), other["fingerprint"].get(key)
            if x != y:
                out.append(f"{FINGERPRINT_LABELS.get(key, key)}: {_short(x)} vs {_short(y)}")
        if first.get("torch_threads") != other.get("torch_threads"):
            out.append(f"torch threads: {first.get('torch_threads')} vs {other.get('torch_threads')}")
    return list(dict.fromkeys(out))


def _short(value) -> str:
    if isinstance(value, dict):
        return value.get("name") or str(value)
    return str(value)


def git_commit() -> str | None:
    """HEAD (+dirty), or $SNNBENCH_GIT_COMMIT where the tree was copied without its .git."""
    if os.environ.get("SNNBENCH_GIT_COMMIT"):
        return os.environ["SNNBENCH_GIT_COMMIT"]
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5).stdout.strip()
    return out.stdout.strip() + ("+dirty" if dirty else "")


def collect(device: str = "cpu") -> dict:
    env = {
        "python": platform.python_version(),
        "packages": {name: version_of(name) for name in PACKAGES},
        "platform": platform.platform(),
        "machine": platform.node(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "git_commit": git_commit(),
        "fingerprint": fingerprint(),
    }
    # Flat copies of the versions users look for first.
    for name in ("torch", "snntorch", "sinabs", "numpy"):
        env[name] = env["packages"][name]
    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(index)
        env["gpu"] = {"name": props.name, "memory_bytes": props.total_memory,
                      "capability": f"{props.major}.{props.minor}"}
        env["cuda"] = torch.version.cuda
        env["tf32"] = {"matmul": torch.backends.cuda.matmul.allow_tf32,
                       "cudnn": torch.backends.cudnn.allow_tf32}
    return env
