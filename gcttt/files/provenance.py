"""Where a result came from: git commit, package versions, device, and file fingerprints."""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]


@functools.lru_cache(maxsize=1)
def git_sha() -> str:
    """Commit of the checkout gcttt runs from, with '-dirty' for local changes; 'unknown' outside git."""
    env_sha = os.environ.get("GCTTT_GIT_SHA")  # set by images and jobs that ship without .git
    if env_sha:
        return env_sha
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@functools.lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    """Versions of the packages that shape results."""
    out = {"python": platform.python_version()}
    for pkg in ("gcttt", "torch", "numpy", "ogbench", "mujoco", "gymnasium", "ray", "mlflow"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


def resolve_device(device: str = "auto", flag: str = "--device") -> torch.device:
    """'auto' picks CUDA when available; an explicit 'cuda' without a GPU is refused clearly, naming
    the fix with the caller's `flag`."""
    from gcttt.errors import UsageError

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UsageError(f"device {device!r} is not a device: use auto, cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise UsageError(f"device {device!r} is not supported: use auto, cpu, cuda or cuda:N")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device!r} requested but this machine has no CUDA GPU; use {flag} cpu or auto")
    return dev


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (e.g. 'AMD EPYC'), from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


def machine_name(device: torch.device | str = "cpu") -> str:
    """What computed a result: the GPU's name on CUDA, else the CPU model. Checkpoints pre-trained on
    two machines of different kinds differ in their last bits, so rows name theirs."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()


def weights_fingerprint(nets_state: dict[str, torch.Tensor]) -> str:
    """SHA-256 (first 16 hex digits) of a state dict's tensors, by name: which weights played an episode.

    Only the networks' values enter (names, dtypes, shapes and bytes), not the optimiser or the step,
    so the same weights give the same fingerprint whichever file or device holds them.
    """
    digest = hashlib.sha256()
    for name in sorted(nets_state):
        tensor = nets_state[name].detach().to("cpu").contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        if tensor.dtype == torch.bfloat16:  # NumPy has no bfloat16: hash its bits
            tensor = tensor.view(torch.int16)
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:16]


def file_fingerprint(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (first 16 hex digits): which dataset a checkpoint was trained on."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]
