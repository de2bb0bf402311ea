"""The rsyslog_server role's inputs: the ports its check compares are those of the inputs it
enables, so that two of them never bind one port (rsyslogd -N1 lets that through, and the
second listener then fails at run time while the role reports success)."""

from __future__ import annotations

import pytest
import yaml

from tests.support.collection_path import ROOT
from tests.support.role_vars import rendered

TASKS = ROOT / "roles" / "rsyslog_server" / "tasks" / "main.yml"


@pytest.mark.parametrize("settings, ports", [
    ({}, [514]),
    ({"rsyslog_server_tls": True}, [514, 6514]),
    ({"rsyslog_server_relp": True, "rsyslog_server_relp_port": "514"}, [514, 514]),
    ({"rsyslog_server_tcp": False, "rsyslog_server_tls": True, "rsyslog_server_relp": True,
      "rsyslog_server_relp_port": 6514}, [6514, 6514]),
    ({"rsyslog_server_tcp": False, "rsyslog_server_udp": True}, []),
])
def test_the_stream_ports_are_those_of_the_enabled_inputs(settings, ports):
    assert rendered("rsyslog_server", "rsyslog_server_stream_ports", **settings) == ports


def test_the_role_refuses_two_inputs_on_one_port():
    checks = next(task for task in yaml.safe_load(TASKS.read_text(encoding="utf-8"))
                  if task["name"] == "Check the settings that depend on each other")
    assert ("rsyslog_server_stream_ports | unique | length == rsyslog_server_stream_ports | length"
            in checks["ansible.builtin.assert"]["that"])
    assert "plain tcp, TLS and RELP need different ports" in " ".join(
        checks["ansible.builtin.assert"]["fail_msg"].split())
