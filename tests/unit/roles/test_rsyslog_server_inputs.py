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


TLS_FILES = {"rsyslog_server_tls_ca_file": "/etc/rsyslog-tls/ca.pem",
             "rsyslog_server_tls_cert_file": "/etc/rsyslog-tls/server.pem",
             "rsyslog_server_tls_key_file": "/etc/rsyslog-tls/server-key.pem",
             "rsyslog_server_tls_permitted_peers": ["*.example.test"],
             "rsyslog_server_log_group": "adm", "rsyslog_server_rsyslog_user": "syslog",
             "rsyslog_server_file_owner": "syslog"}


@pytest.mark.parametrize("settings, global_files", [
    ({"rsyslog_server_tls": True}, True),
    ({"rsyslog_server_relp": True, "rsyslog_server_relp_tls": True}, False),
])
def test_the_rsyslog_wide_tls_files_are_set_only_for_the_tls_input(settings, global_files):
    # RELP's input names its files itself; rsyslog-wide ones would clash with a client's on
    # the same host (rsyslogd refuses a global parameter set twice).
    text = rendered("rsyslog_server", "rsyslog_server_config_content", **dict(TLS_FILES, **settings))
    assert ("DefaultNetstreamDriverCAFile" in text) is global_files
    if not global_files:
        assert 'tls.caCert="/etc/rsyslog-tls/ca.pem"' in text
