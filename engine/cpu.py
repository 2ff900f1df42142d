"""CPU features that decide int8 defaults, read from /proc/cpuinfo (no framework import).

Why it matters: on x86 CPUs without VNNI, ONNX Runtime's and FBGEMM's u8 x s8 kernels
multiply pairs with ``vpmaddubsw``, whose 16-bit intermediate sum saturates when uint8
activations meet int8 weights near full range. VNNI (``vpdpbusd``) accumulates straight
into 32 bits, so full 8-bit ranges are safe. ``reduce_range`` (7-bit weights in ONNX
Runtime, 7-bit activations in PyTorch) avoids the saturation at a small cost in precision.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
CPUINFO_ENV = "R8_CPUINFO"
"""A file read instead of /proc/cpuinfo: the test suite pins a CPU without VNNI with it, so that
the automatic reduce_range, and every int8 figure that follows from it, is the same on every
machine (with reduce_range on, VNNI and non-VNNI kernels compute the same integers)."""
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
"""Any of these means non-saturating u8 x s8 dot products."""
X86_MACHINES = ("x86_64", "amd64", "i386", "i686")


@dataclass(frozen=True)
class CpuFeatures:
    """What the CPU offers for int8 inference."""

    machine: str
    """``platform.machine()``, e.g. x86_64 or aarch64."""
    model: str
    """The CPU's model name, or empty when unknown."""
    vnni_flags: tuple[str, ...]
    """The VNNI/AMX int8 flags present (subset of VNNI_FLAGS)."""
    known: bool
    """Whether the flags could be read (False: /proc/cpuinfo missing or unreadable)."""

    @property
    def x86(self) -> bool:
        return self.machine.lower() in X86_MACHINES

    @property
    def vnni(self) -> bool:
        return bool(self.vnni_flags)

    def describe(self) -> str:
        """One line, e.g. ``x86_64 AMD EPYC with avx512_vnni, avx_vnni``."""
        head = " ".join(p for p in (self.machine, self.model) if p)
        if not self.known:
            return f"{head} (CPU flags unknown)"
        return f"{head} with {', '.join(self.vnni_flags)}" if self.vnni else f"{head} without VNNI"


def cpu_features(cpuinfo: Path | None = None, machine: str | None = None) -> CpuFeatures:
    """Read the CPU's int8-relevant flags from ``cpuinfo`` (default: $R8_CPUINFO, else
    /proc/cpuinfo); ``machine`` defaults to ``platform.machine()``."""
    machine = machine if machine is not None else platform.machine()
    if cpuinfo is None:
        cpuinfo = Path(os.environ.get(CPUINFO_ENV) or CPUINFO)
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return CpuFeatures(machine, "", (), False)
    flags: set[str] = set()
    model = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("flags", "features") and not flags:
            flags = set(value.split())
        elif key == "model name" and not model:
            model = value.strip()
    return CpuFeatures(machine, model, tuple(f for f in VNNI_FLAGS if f in flags), bool(flags))


def default_reduce_range(activations: str, cpu: CpuFeatures) -> tuple[bool, str]:
    """The reduce_range default for ``activations`` (``uint8`` or ``int8``) and why."""
    if activations == "int8":
        return False, ("int8 activations use signed kernels that do not saturate "
                       "(measured: no loss without reduce_range)")
    if not cpu.x86:
        return False, f"{cpu.machine} is not x86: its u8 x s8 kernels do not saturate"
    if not cpu.known:
        return True, "CPU flags unknown: 7-bit range avoids u8 x s8 saturation on CPUs without VNNI"
    if cpu.vnni:
        return False, (f"CPU has {', '.join(cpu.vnni_flags)}: u8 x s8 products accumulate in "
                       "32 bits, full 8-bit range is safe")
    return True, ("x86 CPU without VNNI: u8 activations x s8 weights saturate the 16-bit "
                  "pairwise sums, so a 7-bit range is used")
