"""The keys and values auditd accepts: a table of settings and auditd's verdict."""

from __future__ import annotations

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._auditd_conf.keywords import (
    SettingError,
    check_setting,
    same_value,
    setting_problems,
    skipped_plugin_file,
)


@pytest.mark.parametrize("syntax, key, value, written", [
    ("auditd", "num_logs", 4, ("num_logs", "4")),
    ("auditd", "Flush", "incremental_async", ("flush", "incremental_async")),
    ("auditd", "write_logs", True, ("write_logs", "yes")),
    ("auditd", "local_events", False, ("local_events", "no")),
    ("auditd", "space_left", "25%", ("space_left", "25%")),
    ("auditd", "admin_space_left", 50, ("admin_space_left", "50")),
    ("auditd", "space_left_action", "exec /usr/local/sbin/alert", ("space_left_action", "exec /usr/local/sbin/alert")),
    ("auditd", "disk_full_action", "SUSPEND", ("disk_full_action", "SUSPEND")),
    ("auditd", "tcp_client_ports", "1-1023", ("tcp_client_ports", "1-1023")),
    ("auditd", "log_group", "adm", ("log_group", "adm")),
    ("auditd", "q_depth", 8192, ("q_depth", "8192")),
    ("auditd", "disp_qos", "lossless", ("disp_qos", "lossless")),
    ("audispd", "overflow_action", "SYSLOG", ("overflow_action", "SYSLOG")),
    ("plugin", "active", "no", ("active", "no")),
    ("plugin", "args", "LOG_INFO LOG_LOCAL6", ("args", "LOG_INFO LOG_LOCAL6")),
    ("plugin", "path", "builtin_syslog", ("path", "builtin_syslog")),
])
def test_accepted_settings_are_written_as_auditd_reads_them(syntax, key, value, written):
    assert check_setting(syntax, key, value) == written


@pytest.mark.parametrize("syntax, key, value, message", [
    ("auditd", "num_log", 4, "auditd.conf has no key num_log (the keys audit 2.8 to 4.0 know: "),
    ("auditd", "num_logs", 1000, "auditd.conf: num_logs = 1000 must be a whole number from 0 to 999"),
    ("auditd", "num_logs", -1, "auditd.conf: num_logs = -1 must be a whole number from 0 to 999"),
    ("auditd", "flush", "sometimes", "auditd.conf: flush = sometimes must be one of none, incremental, "),
    ("auditd", "freq", "1.5", "auditd.conf: freq = 1.5 must be a whole number from 0 to 2147483647"),
    # what auditd 3.0.9's parser refuses: past INT_MAX, q_depth past 99999, other digits
    ("auditd", "freq", 2 ** 31, "freq = 2147483648 must be a whole number from 0 to 2147483647"),
    ("auditd", "max_restarts", "9" * 30, "must be a whole number from 0 to 2147483647"),
    ("auditd", "q_depth", 100000, "q_depth = 100000 must be a whole number from 1 to 99999"),
    ("audispd", "q_depth", 100000, "q_depth = 100000 must be a whole number from 1 to 99999"),
    ("auditd", "num_logs", "\u0664", "num_logs = \u0664 must be a whole number from 0 to 999"),
    ("auditd", "num_logs", "\u00b2", "num_logs = \u00b2 must be a whole number from 0 to 999"),
    ("auditd", "space_left", "\u0664", "must be a size in MiB (75) or a percentage from 1% to 99%"),
    ("plugin", "direction", "in", "a plugin's file: direction = in must be one of out"),
    ("auditd", "log_file", "audit.log", "auditd.conf: log_file = audit.log must be an absolute path"),
    ("auditd", "space_left", "120%", "must be a size in MiB (75) or a percentage from 1% to 99%"),
    ("auditd", "space_left_action", "exec", "needs the program's absolute path after exec"),
    ("auditd", "disk_error_action", "rotate", "disk_error_action = rotate must be one of ignore, syslog"),
    ("auditd", "max_log_file_action", "ROTATE now", "max_log_file_action = ROTATE now is not one word"),
    ("auditd", "tcp_listen_port", 0, "tcp_listen_port = 0 must be a whole number from 1 to 65535"),
    ("auditd", "tcp_client_ports", "1023-1", "must be a port or a range of ports from 1 to 65535"),
    ("auditd", "name", "", "auditd.conf: name has no value"),
    ("auditd", "name", None, "auditd.conf: name has no value"),
    ("auditd", "action_mail_acct", "a" * 160, "is longer than the 158 characters auditd reads"),
    ("audispd", "log_file", "/var/log/audit/audit.log", "audispd.conf has no key log_file"),
    ("plugin", "args", "one two three", "a plugin's file: args = one two three takes at most 2 arguments"),
    ("plugin", "active", "maybe", "a plugin's file: active = maybe must be one of yes, no"),
])
def test_refused_settings_name_the_file_key_and_value(syntax, key, value, message):
    with pytest.raises(SettingError) as raised:
        check_setting(syntax, key, value)
    assert message in str(raised.value)


def test_problems_of_a_mapping_include_a_key_given_twice():
    problems = setting_problems({"num_logs": 4, "NUM_LOGS": 5, "flush": "often"})
    assert problems == ["auditd.conf: num_logs is given twice (as num_logs and NUM_LOGS)",
                        "auditd.conf: flush = often must be one of none, incremental, "
                        "incremental_async, data, sync"]
    assert setting_problems({"num_log": "x"}, keys_only=True)[0].startswith("auditd.conf has no key")
    assert setting_problems({"num_logs": "x"}, keys_only=True) == []
    assert setting_problems({}, "ini") == ["syntax must be one of auditd, audispd, plugin, not ini"]


@pytest.mark.parametrize("key, first, second, same", [
    ("flush", "INCREMENTAL_ASYNC", "incremental_async", True),
    ("flush", "DATA", "sync", False),
    ("log_file", "/var/log/audit/audit.log", "/var/log/Audit/audit.log", False),
    ("space_left_action", "exec /usr/X", "exec /usr/x", False),
    ("space_left_action", "SYSLOG", "syslog", True),
    ("num_logs", "4", "4", True),
])
def test_values_compare_as_auditd_reads_them(key, first, second, same):
    assert same_value("auditd", key, first, second) is same


def test_a_plugin_file_auditd_takes_for_a_backup_copy():
    assert skipped_plugin_file("/etc/audit/plugins.d/syslog.conf") is None
    assert "taken for a backup copy" in skipped_plugin_file("/etc/audit/plugins.d/syslog.conf.orig")


@pytest.mark.parametrize("settings, problems", [
    ({"flush": "incremental_async", "freq": 0},
     ["auditd.conf: flush = incremental_async writes every freq records, and freq = 0: auditd "
      "refuses it"]),
    ({"flush": "DATA", "freq": 0}, []),
    ({"space_left": 10, "admin_space_left": 50},
     ["auditd.conf: space_left = 10 must be larger than admin_space_left = 50"]),
    ({"space_left": 50, "admin_space_left": 50},
     ["auditd.conf: space_left = 50 must be larger than admin_space_left = 50"]),
    ({"space_left": "25%", "admin_space_left": 50}, []),  # compared by auditd at run time
    ({"space_left": 75, "admin_space_left": 50}, []),
])
def test_settings_auditd_refuses_together_are_named(settings, problems):
    assert setting_problems(settings) == problems
