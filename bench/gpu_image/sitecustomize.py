"""Python as on the GPU machines' image: every installed package the image lacks is unimportable.

    PYTHONPATH=bench/gpu_image python bench/gpu_check.py --quick --out /tmp/r.json

A GPU machine lent to this project has no network and a fixed image (packages.txt beside this
file): no tyro, gymnasium, mujoco, ogbench, ray or mlflow. Its time is short, so the check that
runs there must work at the first try; this module lets it be tried here first. Python imports
`sitecustomize` at start-up from the path, so with this folder on PYTHONPATH every process,
including the workers that multiprocessing spawns, finds none of these modules:
- every top-level module of an installed distribution that packages.txt does not list (unless a
  listed distribution provides the same top-level name, as with namespace packages like google);
- tyro, gymnasium, mujoco, ogbench, ray and mlflow, even if some other distribution provided them;
- the names in $GCTTT_ALSO_UNIMPORTABLE (comma-separated; tests use it to remove one more).
The repository's own packages stay importable (the checkout is carried to the machine).
"""

from __future__ import annotations

import os
import re
import sys
from importlib import metadata
from pathlib import Path

NOT_IN_IMAGE = ("tyro", "gymnasium", "mujoco", "ogbench", "ray", "mlflow")
"""Packages gcttt uses that the image is known to lack."""

OWN = {"gcttt"}
"""The repository's distribution (installed editable here; carried as a checkout there)."""

CACHE = "_GCTTT_NOT_IN_IMAGE"
"""Environment variable that hands the computed names to child processes (computing them reads
every installed distribution's file list: a fraction of a second per process)."""


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def image_packages() -> set[str]:
    lines = (Path(__file__).with_name("packages.txt")).read_text().splitlines()
    return {_norm(line) for line in lines if line.strip() and not line.startswith("#")}


def unimportable() -> set[str]:
    """Top-level module names that installed distributions provide and the image does not."""
    image = image_packages() | OWN
    names = set(NOT_IN_IMAGE)
    stdlib = getattr(sys, "stdlib_module_names", ())
    for top, dists in metadata.packages_distributions().items():
        if top in stdlib or not top.isidentifier():
            continue
        if all(_norm(d) not in image for d in dists):
            names.add(top)
    return names


class Hiding:
    """Wraps one meta-path finder so that the listed top-level names are not found: an import
    raises the usual ModuleNotFoundError and `importlib.util.find_spec` answers None, as for a
    package that is not installed (torch probes optional modules that way)."""

    def __init__(self, finder, names: frozenset[str]):
        self.finder = finder
        self.names = names

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in self.names:
            return None
        return self.finder.find_spec(fullname, path, target)

    def __getattr__(self, attr):  # invalidate_caches, find_distributions, ...
        return getattr(self.finder, attr)


def install() -> frozenset[str]:
    if CACHE not in os.environ:
        os.environ[CACHE] = ",".join(sorted(unimportable()))
    names = {n for n in os.environ[CACHE].split(",") if n}
    names |= {n.strip() for n in os.environ.get("GCTTT_ALSO_UNIMPORTABLE", "").split(",") if n.strip()}
    hidden = frozenset(names)
    sys.meta_path[:] = [Hiding(f, hidden) for f in sys.meta_path]
    return hidden


install()
