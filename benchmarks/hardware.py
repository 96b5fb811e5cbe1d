"""What the machine could do: the fp32 peak of the CPU a benchmark runs on, and a model's FLOPs.

The peak is cores x clock x fp32 FLOP per cycle per core, the last from the widest vector FMA
the CPU reports (``/proc/cpuinfo`` flags): AVX-512 64 (two 16-lane FMA units), AVX2 + FMA 32
(two 8-lane units), AVX 16, else 8; AMD's family 25 (Zen 4) reports AVX-512 but runs it on its
two 256-bit units, so 32. It is an upper bound: some Intel AVX-512 parts have one FMA unit, and
the clock is the one the kernel reports (a VM shows the nominal clock, not the turbo one).
FLOPs are PyTorch's own count of the forward (``torch.utils.flop_counter``: 2 per multiply-add
of convolutions and matrix products).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

import models

__all__ = ["cpu_peak", "forward_flops"]


def _cpuinfo() -> dict[str, str]:
    """The first processor's ``key: value`` lines of /proc/cpuinfo (empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # pragma: no cover - not Linux
        return {}
    first = text.split("\n\n", 1)[0]
    return {
        k.strip(): v.strip() for k, _, v in (line.partition(":") for line in first.splitlines())
    }


def _flops_per_cycle(flags: set[str], vendor: str = "", family: str = "") -> int:
    if "avx512f" in flags:
        return 32 if (vendor, family) == ("AuthenticAMD", "25") else 64
    if {"avx2", "fma"} <= flags:
        return 32
    return 16 if "avx" in flags else 8


def _clock_ghz(info: dict[str, str]) -> float | None:
    limit = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    try:
        return int(limit.read_text()) / 1e6
    except (OSError, ValueError):
        pass
    try:
        return float(info["cpu MHz"]) / 1e3
    except (KeyError, ValueError):
        return None


def cpu_peak(cores: int | None = None) -> dict:
    """The fp32 peak of ``cores`` cores (default: all) of this CPU, and how it was computed.

    Returns:
        ``{"cpu", "cores", "clock_ghz", "flops_per_cycle", "peak_gflops"}``; ``clock_ghz`` and
        ``peak_gflops`` are ``None`` when the clock is unknown.
    """
    info = _cpuinfo()
    cores = cores or os.cpu_count() or 1
    flags = set(info.get("flags", "").split())
    per_cycle = _flops_per_cycle(flags, info.get("vendor_id", ""), info.get("cpu family", ""))
    clock = _clock_ghz(info)
    return {
        "cpu": info.get("model name", platform.processor() or platform.machine()),
        "cores": cores,
        "clock_ghz": clock,
        "flops_per_cycle": per_cycle,
        "peak_gflops": None if clock is None else cores * clock * per_cycle,
    }


def forward_flops(name: str, classes: int, length: int) -> float:
    """FLOPs of one frame's forward through model ``name`` (eval mode, batch of 8 / 8)."""
    network = models.build(name, classes, length).eval()
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        network(torch.zeros(8, 2, length))
    return counter.get_total_flops() / 8
