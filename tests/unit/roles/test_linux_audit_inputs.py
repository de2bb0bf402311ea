"""The linux_audit role's own values as the host's programs read them: its check of the
auditd settings refuses what auditd refuses to load (auditd would keep its old settings on a
reload and not start at the next boot), and the history format reaches bash as written."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.role_vars import rendered

FACTS = {"distribution": "Debian", "os_family": "Debian"}


@pytest.mark.parametrize("overrides, says", [
    ({}, None),
    ({"linux_audit_flush_frequency": 0}, "and freq = 0: auditd refuses it"),
    ({"linux_audit_dispatcher_queue_depth": 100000}, "q_depth = 100000 must be a whole number"),
    ({"linux_audit_flush_frequency": 2 ** 31}, "freq = 2147483648 must be a whole number"),
])
def test_the_role_refuses_auditd_settings_auditd_would_not_load(overrides, says):
    problems = rendered("linux_audit", "linux_audit_input_problems", ansible_facts=FACTS,
                        linux_audit_version="3.0.9", **overrides)
    assert (problems == []) if says is None else any(says in problem for problem in problems), \
        problems


@pytest.mark.parametrize("history_format", ["%F %T ", '%F %T " ', "%F $(id -un) `id` '%T' "])
def test_the_history_format_reaches_bash_as_written(tmp_path, history_format):
    script = tmp_path / "whotouched-history.sh"
    script.write_text(rendered("linux_audit", "linux_audit_history_content",
                               linux_audit_history_format=history_format), encoding="utf-8")
    shell = subprocess.run(["bash", "-c", '. "$1" && printf %s "$HISTTIMEFORMAT"', "bash",
                            str(script)], capture_output=True, text=True, check=False, timeout=30)
    assert (shell.returncode, shell.stdout, shell.stderr) == (0, history_format, "")
