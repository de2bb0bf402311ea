"""Run a command for a test: output captured as text, the exit status left to the test."""

from __future__ import annotations

import subprocess


def run(*args, **options):
    return subprocess.run(list(args), capture_output=True, text=True, check=False, **options)
