"""The container files, checked without a Docker engine (none runs on the development machines).

What can be checked here is checked: the files parse, every path and entry point they name exists
in the repository, the images install exactly pyproject's dependencies under pins that satisfy
pyproject's ranges, and the versions named in several places agree.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python 3.11+, as in the images

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
DOCKERFILES = sorted(p for p in DOCKER.glob("Dockerfile.*") if p.suffix != ".dockerignore")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _image_requirements() -> list[Requirement]:
    project = _pyproject()
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["cluster"]]


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (DOCKER / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        assert version, f"constraints.txt: {line!r} is not a 'name==version' pin"
        pins[canonicalize_name(name)] = Version(version)
    return pins


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_both_images_exist():
    assert [p.name for p in DOCKERFILES] == ["Dockerfile.cpu", "Dockerfile.cuda"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_parses_and_copies_only_what_exists(dockerfile):
    steps = _instructions(dockerfile)
    keywords = {k for k, _ in steps}
    assert keywords <= {"FROM", "ARG", "ENV", "RUN", "WORKDIR", "COPY", "VOLUME", "CMD"}, keywords
    assert any(k == "FROM" for k, _ in steps)
    copies = [shlex.split(args) for k, args in steps if k == "COPY"]
    assert copies
    for parts in copies:
        for source in parts[:-1]:
            assert (ROOT / source).exists(), f"{dockerfile.name} copies {source}, which is not in the repository"
    # Every package of the library layout is in the image (python sweeps/... must run there).
    copied = {Path(parts[0]).name for parts in copies}
    assert {"gcttt", "workers", "sweeps", "analysis", "pyproject.toml"} <= copied
    cmd = dict(steps)["CMD"]
    assert cmd.startswith('["gcttt"') and "gcttt" in _pyproject()["scripts"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_image_installs_exactly_pyprojects_dependencies(dockerfile, tmp_path):
    """Run the image's own requirements one-liner on pyproject.toml and compare."""
    runs = [args for k, args in _instructions(dockerfile) if k == "RUN" and "tomllib" in args]
    assert len(runs) == 1, "expected one RUN that derives the requirements from pyproject.toml"
    snippet = re.search(r'python -c "(.*?)" > /tmp/requirements.txt', runs[0], re.S)
    assert snippet, runs[0]
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    printed = subprocess.run(
        [sys.executable, "-c", snippet.group(1)], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert [Requirement(r) for r in printed if r] == _image_requirements()
    assert "-c docker/constraints.txt -r /tmp/requirements.txt" in runs[0]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_image_torch_is_the_pinned_release(dockerfile):
    args = dict(a.split("=", 1) for k, a in _instructions(dockerfile) if k == "ARG" and a.startswith("TORCH_VERSION="))
    assert Version(args["TORCH_VERSION"]) == _pins()["torch"]


def test_every_dependency_is_pinned_within_its_range():
    pins = _pins()
    for requirement in _image_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is a dependency but docker/constraints.txt does not pin it"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's range {requirement.specifier}"
        )
        for extra in requirement.extras:  # ray[default], ray[tune]: the extra's packages are pinned too
            assert extra in ("default", "tune")
    assert "aiohttp" in pins and "pyarrow" in pins  # what ray[default] and ray[tune] pull in


def test_compose_file_parses_and_names_existing_files():
    compose = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"mlflow", "ray-head", "ray-worker", "ray-worker-gpu"} <= set(services)
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = (DOCKER / build["context"]).resolve()
            assert context == ROOT, name
            assert (context / build["dockerfile"]).is_file(), name
        assert service["image"] in ("gcttt:cpu", "gcttt:cuda"), name
        assert {"data:/data", "results:/results"} <= set(service["volumes"]), name
    assert "ray start --head" in services["ray-head"]["command"]
    assert "mlflow server" in " ".join(services["mlflow"]["command"])
    assert set(compose["volumes"]) == {"data", "results"}


def _rayjob_documents() -> list[dict]:
    return [d for d in yaml.safe_load_all((DOCKER / "rayjob.yaml").read_text()) if d]


def test_rayjob_parses_and_runs_the_horizon_sweep_with_valid_flags():
    docs = _rayjob_documents()
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["Deployment", "PersistentVolumeClaim", "PersistentVolumeClaim", "RayJob", "Service"]
    job = next(d for d in docs if d["kind"] == "RayJob")
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[0] == "python" and argv[1] == "/app/sweeps/horizon_sweep.py"
    assert (ROOT / argv[1].removeprefix("/app/")).is_file()
    # The sweep's own parser accepts every flag of the entry point.
    from sweeps.config import parse
    from sweeps.horizon_sweep import PROG, HorizonSweep

    config = parse(HorizonSweep, argv[2:], PROG, "")
    assert config.outputs.out == "/results" and config.outputs.data_dir == "/data"
    assert Version(job["spec"]["rayClusterSpec"]["rayVersion"]) == _pins()["ray"]
    claims = {d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"}
    spec = job["spec"]["rayClusterSpec"]
    pods = [spec["headGroupSpec"]["template"]["spec"]] + [g["template"]["spec"] for g in spec["workerGroupSpecs"]]
    for pod in pods:
        used = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
        assert used == claims
        for container in pod["containers"]:
            assert container["image"] in ("gcttt:cpu", "gcttt:cuda")


def test_dockerignore_keeps_local_state_out_of_the_context():
    for ignore in DOCKER.glob("*.dockerignore"):
        entries = set(ignore.read_text().split())
        assert {".git", ".venv", "results", "*.npz"} <= entries, ignore.name
