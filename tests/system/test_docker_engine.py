"""The test platform's engine check stops with a clear message when Docker does not answer."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.needs_root


@pytest.mark.skipif(os.geteuid() != 0, reason="starting the Docker engine needs root")
def test_engine_that_does_not_answer_is_named_not_traced():
    env = dict(os.environ, DOCKER_HOST="unix:///run/whotouched-no-such-docker.sock",
               DOCKER_START_TIMEOUT="3")
    result = subprocess.run(["bash", str(ROOT / "scripts/docker-engine.sh")], env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 1
    assert "the Docker engine did not answer within 3 s" in result.stderr
    assert "Cannot connect to the Docker daemon at unix:///run/whotouched-no-such-docker.sock" in result.stderr
    assert "Traceback" not in result.stderr
