"""What rows record of the machine that computed them, and what the self-check reads from it."""

from __future__ import annotations

import torch

from gcttt.files.provenance import cpu_model, machine_difference, machine_name, why_weights_differ


def test_a_cpu_machine_is_named_by_its_model_and_the_kernels_torch_dispatches_to():
    assert machine_name("cpu") == f"{cpu_model()} ({torch.backends.cpu.get_cpu_capability()})"


def test_two_cpus_of_one_model_are_told_apart_by_their_kernels():
    here = {"machine": ["AMD EPYC (AVX2)"], "version_torch": ["2.13.0+cpu"]}
    there = {"machine": ["AMD EPYC (AVX512)"], "version_torch": ["2.13.0+cpu"]}
    assert machine_difference(here, there) == ["the CPU's kernels: AVX2 here, AVX512 there (both AMD EPYC)"]
    gpu = {"machine": ["NVIDIA H100 80GB HBM3 (CUDA 12.4, cuDNN 9.1.0)"]}
    other = {"machine": ["NVIDIA H100 80GB HBM3 (CUDA 12.8, cuDNN 9.8.0)"]}
    assert machine_difference(gpu, other)[0].startswith("the GPU's software: CUDA 12.4, cuDNN 9.1.0 here")


def test_rows_older_than_the_kernels_still_read_and_say_so():
    old = machine_difference({"machine": ["AMD EPYC (AVX2)"]}, {"machine": ["AMD EPYC"]})
    assert old == [
        "the machine: AMD EPYC (AVX2) here, AMD EPYC there (AMD EPYC: recorded before rows named the kernels or CUDA)"
    ]
    # Intel's model names hold parentheses of their own, which are not a recorded capability.
    xeon = "Intel(R) Xeon(R) CPU @ 2.20GHz"
    assert "recorded before" in machine_difference({"machine": [xeon]}, {"machine": ["AMD EPYC (AVX2)"]})[0]


def test_the_self_check_names_the_first_recorded_difference_or_says_none_was_recorded():
    same = {"machine": ["AMD EPYC (AVX2)"], "version_torch": ["2.13.0"], "dataset_fingerprint": ["7bcf"]}
    assert why_weights_differ(same, {**same, "version_torch": ["2.12.0"]}) == (
        "what differs: torch: 2.13.0 here, 2.12.0 there"
    )
    assert "the code (git): a here, b there" in why_weights_differ(
        {**same, "git_sha": ["a"]}, {**same, "git_sha": ["b"]}
    )
    assert why_weights_differ(same, same).endswith("a nondeterministic pre-training")


def test_rows_say_which_pins_the_environment_follows_and_what_departs_from_them(tmp_path):
    import hashlib
    from importlib import metadata

    from gcttt.files.provenance import pins_state

    numpy, torch_version = metadata.version("numpy"), metadata.version("torch")
    pins = tmp_path / "constraints.txt"
    # torch is pinned without its local label (+cpu): the installed build follows the pin.
    pins.write_text(f"# header\nnumpy=={numpy}\ntorch=={torch_version.split('+')[0]}\n")
    digest = hashlib.sha256(pins.read_bytes()).hexdigest()[:12]
    assert pins_state(pins) == digest
    pins.write_text(f"numpy=={numpy}\nPyYAML==0.0.1\nmujoco==0.0.1\nno-such-package==1.0\n")
    state = pins_state(pins)
    # What shapes results (mujoco) is named first; a pinned package missing here counts too.
    assert state.startswith(f"{hashlib.sha256(pins.read_bytes()).hexdigest()[:12]}, not followed: 3 differ (mujoco ")
    assert "no-such-package absent" in state
    assert pins_state(tmp_path / "none.txt") == "none"
