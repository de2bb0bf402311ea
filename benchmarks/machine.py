"""The line a benchmark prints about the machine its figures come from."""

from __future__ import annotations

import os
import platform


def machine_line(*details: str) -> str:
    """Cores, CPU model, kernel, Python, ``details`` (the versions of the tools compared)
    and the load average when the figures were taken."""
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo
                    if line.startswith("model name")), platform.processor())
    return "machine: %s" % ", ".join(
        ["%d cores" % os.cpu_count(), cpu, "kernel " + platform.release(),
         "Python " + platform.python_version()] + list(details)
        + ["load %.1f" % os.getloadavg()[0]])
