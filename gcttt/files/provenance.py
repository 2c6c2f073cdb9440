"""Where a result came from: git commit, package versions, device, and file fingerprints."""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import subprocess
from collections.abc import Iterable, Mapping
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


SHAPING = ("gcttt", "torch", "numpy", "ogbench", "mujoco", "gymnasium", "ray", "mlflow")
"""The packages whose versions every row records."""
PINS = REPO_ROOT / "docker" / "constraints.txt"
"""The tested set of every dependency's version, which `make install` installs (`make pins` writes it)."""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins_state(pins: Path = PINS) -> str:
    """Which pinned set this environment was installed from: the first 12 hex digits of the pins
    file's SHA-256, followed by what departs from it where the installed versions are not the pinned
    ones (an unpinned install, a package upgraded by hand), e.g. '3f2a9c1b7d20, not followed: 2
    differ (mujoco 4.0.1, ...)'; 'none' without a pins file (gcttt installed from a wheel)."""
    try:
        text = pins.read_text()
    except OSError:
        return "none"
    installed = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            installed.setdefault(_canonical(name), dist.version)
    differ = []
    for line in text.splitlines():
        name, _, pin = line.split("#")[0].strip().partition("==")
        have = installed.get(_canonical(name))
        # torch is pinned without its local label (+cpu, +cu128): both builds of a release follow it.
        if pin and (have is None or have.split("+")[0] != pin.strip()):
            differ.append(f"{name} {have or 'absent'}")
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    # The packages whose versions rows also record are named first: they shape results.
    differ.sort(key=lambda d: _canonical(d.split()[0]) not in SHAPING)
    if not differ:
        return digest
    shown = ", ".join(differ[:3]) + (", ..." if len(differ) > 3 else "")
    return f"{digest}, not followed: {len(differ)} differ ({shown})"


@functools.lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    """Versions of the packages that shape results, and `pins`: whether they came from the pinned set
    (`pins_state`)."""
    out = {"python": platform.python_version()}
    for pkg in SHAPING:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    out["pins"] = pins_state()
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


def _cudnn_text() -> str:
    version = torch.backends.cudnn.version()
    if not version:
        return "none"
    # cuDNN 9 encodes major * 10000 + minor * 100 + patch, cuDNN 8 and older major * 1000 + ...
    major, rest = divmod(version, 10000 if version >= 90000 else 1000)
    return f"{major}.{rest // 100}.{rest % 100}"


def machine_name(device: torch.device | str = "cpu") -> str:
    """What decides the bits a pre-training produces, besides the code, the data and torch's version:
    on CUDA the GPU's name with the CUDA and cuDNN versions torch runs, e.g. 'NVIDIA H100 80GB HBM3
    (CUDA 12.4, cuDNN 9.1.0)'; on CPU the model with the vector kernels torch dispatches to, e.g.
    'AMD EPYC (AVX2)'. Two CPUs that report the same model name may still differ in the latter
    (AVX2 against AVX512), and then pre-train other weights.

    Rows written before the capability was recorded name the model (or GPU) alone; see
    `machine_difference`."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}, cuDNN {_cudnn_text()})"
    return f"{cpu_model()} ({torch.backends.cpu.get_cpu_capability()})"


_DETAIL = re.compile(r"^(?P<name>.*) \((?P<detail>[^()]*)\)$")


def _split_machine(machine: str) -> tuple[str, str | None]:
    """(model or GPU name, what machine_name adds in parentheses; None in a row older than that)."""
    match = _DETAIL.match(machine)
    return (match["name"], match["detail"]) if match else (machine, None)


def machine_difference(here: Mapping[str, Iterable[str]], there: Mapping[str, Iterable[str]]) -> list[str]:
    """What differs, as recorded, between two sets of rows whose checkpoints differ: each argument maps
    a row column (`machine`, `version_torch`, `dataset_fingerprint`, `git_sha`, ...) to its values
    in those rows. One phrase per differing column, e.g. "the CPU's kernels: AVX2 here, AVX512 there
    (both AMD EPYC)"; empty when nothing recorded differs."""
    names = {"version_torch": "torch", "dataset_fingerprint": "the dataset", "git_sha": "the code (git)"}
    out = []
    for column in here:
        if column not in there:
            continue
        a, b = sorted(set(map(str, here[column]))), sorted(set(map(str, there[column])))
        if a == b:
            continue
        if column != "machine":
            out.append(f"{names.get(column, column)}: {', '.join(a)} here, {', '.join(b)} there")
            continue
        ours, theirs = [_split_machine(m) for m in a], [_split_machine(m) for m in b]
        models = {name for name, _ in ours} | {name for name, _ in theirs}
        if len(models) == 1 and len(ours) == len(theirs) == 1 and None not in (ours[0][1], theirs[0][1]):
            kind = "the CPU's kernels" if "CUDA" not in ours[0][1] else "the GPU's software"
            out.append(f"{kind}: {ours[0][1]} here, {theirs[0][1]} there (both {models.pop()})")
        else:
            old = [m for m, (_, detail) in zip(a + b, ours + theirs, strict=True) if detail is None]
            note = f" ({', '.join(old)}: recorded before rows named the kernels or CUDA)" if old else ""
            out.append(f"the machine: {', '.join(a)} here, {', '.join(b)} there{note}")
    return out


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


def why_weights_differ(here: Mapping[str, Iterable[str]], there: Mapping[str, Iterable[str]]) -> str:
    """The reason, as far as the rows record it, that two sets of rows were played by other pre-trained
    weights (the demo's self-check); `here` and `there` map row columns to values (data frames do)."""
    columns = ("machine", "version_torch", "dataset_fingerprint")
    seen = machine_difference({c: here[c] for c in columns if c in here}, {c: there[c] for c in columns if c in there})
    if seen:
        return "what differs: " + "; ".join(seen)
    code = machine_difference({"git_sha": here.get("git_sha", [])}, {"git_sha": there.get("git_sha", [])})
    if code:
        return f"machine, torch and dataset agree as recorded, so the change is in {code[0]}"
    return "machine, torch, dataset and code agree as recorded: a nondeterministic pre-training"
