"""A short video of a maze episode, rendered by MuJoCo offscreen, with the selected data marked.

`VideoRecorder` is a `TrajectoryRecorder` that also renders the env every `every` steps from the
maze's own top-down camera (OGBench's ``custom_camera``), adding to the scene a small sphere at
the end point of every segment the latest re-plan selected (in that re-plan's colour) and a
larger one where the agent re-planned. `write_gif` stores the frames (Pillow).

Offscreen rendering needs an OpenGL backend: ``MUJOCO_GL=egl`` (GPU or Mesa's software EGL) or
``MUJOCO_GL=osmesa``, set before MuJoCo is imported. `offscreen_problem` tries one render in a
fresh process (a failing backend can abort the process that tries it) and returns, in one line,
why it fails and which backend would work, or None.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gcttt.results.trajectories import TrajectoryRecorder

COLOURS = ((0.12, 0.47, 0.71), (1.0, 0.5, 0.05), (0.17, 0.63, 0.17), (0.84, 0.15, 0.16), (0.58, 0.4, 0.74))
"""Marker colours of re-plans 1, 2, ... (as in the 2-D pictures; repeats after 5)."""
MAX_MARKERS = 150
"""Segment end points drawn per frame at most (MuJoCo's scene has a fixed number of geoms)."""


_PROBE = (
    "import mujoco\n"
    "m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><geom size=\"0.1\"/></worldbody></mujoco>')\n"
    "d = mujoco.MjData(m); mujoco.mj_forward(m, d)\n"
    "r = mujoco.Renderer(m, 16, 16); r.update_scene(d); r.render()\n"
)


def _probe(backend: str | None) -> str | None:
    """None if a fresh process renders offscreen with MUJOCO_GL=`backend`, else its last error line.
    A separate process, because a failing GL backend can abort the process that tries it."""
    env = dict(os.environ)
    env.pop("MUJOCO_GL", None)
    if backend:
        env["MUJOCO_GL"] = backend
    try:
        run = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "no answer within 120 s"
    if run.returncode == 0:
        return None
    lines = [line.strip() for line in run.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {run.returncode}"


def offscreen_problem() -> str | None:
    """None if MuJoCo can render offscreen in this process's setting (MUJOCO_GL), else why not and
    what to do, in one line."""
    backend = os.environ.get("MUJOCO_GL")
    reason = _probe(backend)
    if reason is None:
        return None
    message = f"MuJoCo offscreen rendering failed with MUJOCO_GL={backend or 'unset'} ({reason})"
    working = [b for b in ("egl", "osmesa") if b != backend and _probe(b) is None]
    if working:
        return f"{message}; MUJOCO_GL={working[0]} works on this machine: start the command with it"
    return f"{message}; neither MUJOCO_GL=egl nor osmesa works here (install libegl1 or libosmesa6)"


@dataclass
class VideoRecorder(TrajectoryRecorder):
    """Records the trajectory and renders a frame every `every` steps (call `attach(env, positions)`)."""

    every: int = 10
    size: int = 320
    frames: list[np.ndarray] = field(default_factory=list)
    _env: object = None
    _positions: np.ndarray | None = None
    _renderer: object = None

    def attach(self, env, positions: np.ndarray) -> VideoRecorder:
        """`positions`: the training file's [rows, 2] x-y (segments are its rows)."""
        import mujoco

        self._env, self._positions = env, positions
        self._renderer = mujoco.Renderer(env.unwrapped.model, self.size, self.size)
        return self

    def acting(self, observation: np.ndarray, step: int) -> None:
        super().acting(observation, step)
        if step % self.every == 0:
            self.frames.append(self._frame())

    def frame_now(self) -> None:
        """One more frame of the env as it is (call after the episode for its last state)."""
        self.frames.append(self._frame())

    def _frame(self) -> np.ndarray:
        import mujoco

        maze = self._env.unwrapped
        renderer = self._renderer
        renderer.update_scene(maze.data, camera=maze.custom_camera)
        if self._replans:
            i = len(self._replans) - 1
            replan = self._replans[-1]
            colour = (*COLOURS[i % len(COLOURS)], 1.0)
            ends = self._positions[replan.segments[:, 2]] if len(replan.segments) else np.zeros((0, 2))
            step = max(1, int(np.ceil(len(ends) / MAX_MARKERS)))
            points = [(xy, 0.35) for xy in ends[::step]] + [(replan.position, 0.7)]
            scene = renderer.scene
            for xy, radius in points:
                if scene.ngeom >= scene.maxgeom:
                    break
                mujoco.mjv_initGeom(
                    scene.geoms[scene.ngeom],
                    mujoco.mjtGeom.mjGEOM_SPHERE,
                    np.array([radius, 0, 0]),
                    np.array([float(xy[0]), float(xy[1]), 0.6]),
                    np.eye(3).reshape(-1),
                    np.array(colour, dtype=np.float32),
                )
                scene.ngeom += 1
        return renderer.render().copy()


def write_gif(path: str | os.PathLike, frames: list[np.ndarray], fps: int = 10) -> Path:
    """The frames as an animated GIF (looping)."""
    from PIL import Image

    from gcttt.files.fileio import atomic_write

    images = [Image.fromarray(f) for f in frames]
    path = Path(path)
    with atomic_write(path, "wb") as f:
        images[0].save(f, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path
