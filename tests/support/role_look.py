"""The rsyslog roles' look at the configuration's files, its own command run for real."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from tests.support.collection_path import ROOT


def configuration_lines(role: str, main_config: Path):
    """What the look of ``role`` (rsyslog_client, rsyslog_server) prints of the files of the
    configuration whose main file is ``main_config``: its grep, taken from the role's tasks."""
    tasks = (ROOT / "roles" / role / "tasks" / "main.yml").read_text(encoding="utf-8")
    found = re.search(r"\n\s*(grep -D skip [^\n]*\\\n[^\n]*rsyslog\.d/\*\.conf)\n", tasks)
    assert found, "the look of %s no longer greps the configuration's files" % role
    command = found.group(1)
    for expression, value in (("%s_main_config | dirname" % role, main_config.parent),
                              ("%s_main_config" % role, main_config)):
        command = command.replace("{{ %s | quote }}" % expression, shlex.quote(str(value)))
    assert "{{" not in command, command
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=False,
                          timeout=60).stdout.splitlines()
