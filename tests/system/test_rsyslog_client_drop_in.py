"""The rsyslog_client role's forwarding drop-in, rendered by Ansible from the role's own
variables, loaded by the real rsyslogd: the settings the role accepts give a configuration
rsyslogd takes and reads as meant.

Each test works in a temporary directory with a private main configuration; the host's
/etc/rsyslog.conf is never read or written.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.requested import (
    filter_rule_from_spec,
    writable_filter_rule,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.serializer import (
    serialize_filter_rule,
)
from tests.support.role_look import configuration_lines
from tests.support.role_vars import rendered
from tests.system import test_rsyslog_filter

RSYSLOGD = test_rsyslog_filter.RSYSLOGD
pytestmark = test_rsyslog_filter.pytestmark  # root and rsyslogd, as there


def drop_in(work: Path, **settings):
    """The forwarding drop-in for ``settings``, its filter file under ``work``."""
    return rendered("rsyslog_client", "rsyslog_client_forward_content",
                    rsyslog_client_target="127.0.0.1",
                    rsyslog_client_spool_dir=str(work / "spool"),
                    rsyslog_client_filter_file=str(work / "rsyslog.d" / "10-filter.conf"),
                    rsyslog_client_audit_log=str(work / "audit.log"), **settings)


def rsyslogd_check(work: Path, text: str):
    """rsyslogd -N1 of a main configuration holding the drop-in ``text``."""
    (work / "spool").mkdir(exist_ok=True)
    (work / "rsyslog.d").mkdir(exist_ok=True)
    (work / "rsyslog.d" / "20-forward.conf").write_text(text, encoding="utf-8")
    main = work / "rsyslog.conf"
    main.write_text('global(workDirectory="%s")\n$IncludeConfig %s/rsyslog.d/*.conf\n'
                    % (work / "spool", work), encoding="utf-8")
    return subprocess.run([RSYSLOGD, "-N1", "-f", str(main)], capture_output=True, text=True,
                          timeout=60, check=False)


def test_with_no_noise_filters_there_is_no_filter_file_and_rsyslogd_takes_the_drop_in(tmp_path):
    text = drop_in(tmp_path, rsyslog_client_noise_filters=[])
    assert not (tmp_path / "rsyslog.d" / "10-filter.conf").exists()
    checked = rsyslogd_check(tmp_path, text)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("facility", ["local6", "LOG_LOCAL6", "log_local5"])
def test_the_audit_facility_as_auditd_writes_it_is_given_to_imfile_as_rsyslog_names_it(
        tmp_path, facility):
    text = drop_in(tmp_path, rsyslog_client_audit_facility=facility)
    (tmp_path / "rsyslog.d").mkdir()
    (tmp_path / "rsyslog.d" / "10-filter.conf").write_text("", encoding="utf-8")
    name = facility.lower().replace("log_", "")
    assert 'facility="%s"' % name in text
    checked = rsyslogd_check(tmp_path, text)
    assert checked.returncode == 0, checked.stderr
    assert "invalid" not in checked.stderr.lower(), checked.stderr


@pytest.mark.parametrize("loader, late", [("10-imfile.conf", False), ("30-imfile.conf", True)])
def test_a_drop_in_that_loads_imfile_after_the_forwarding_one_is_found_as_rsyslogd_fails_on_it(
        tmp_path, loader, late):
    """Another drop-in loads imfile, so the role's does not (rsyslogd refuses a second load).
    One read after the role's leaves imfile unknown where the role's input names it: the role
    stops before writing (it finds it late exactly when rsyslogd fails)."""
    loader = tmp_path / "rsyslog.d" / loader
    loader.parent.mkdir()
    loader.write_text('module(load="imfile")\n', encoding="utf-8")
    rsyslogd_check(tmp_path, "")  # the main configuration, the role's drop-in not yet there
    look = {"rsyslog_client_forward_file": str(tmp_path / "rsyslog.d" / "20-forward.conf"),
            "rsyslog_client_main_config": str(tmp_path / "rsyslog.conf"),
            "rsyslog_client_host": {"stdout_lines": configuration_lines(
                "rsyslog_client", tmp_path / "rsyslog.conf")}}
    assert rendered("rsyslog_client", "rsyslog_client_imfile_late_loaders", **look) == (
        [str(loader)] if late else [])
    text = drop_in(tmp_path, **look)
    assert 'load="imfile"' not in text and 'type="imfile"' in text
    checked = rsyslogd_check(tmp_path, text)
    assert ("input module name 'imfile' is unknown" in checked.stderr) is late, checked.stderr
    assert (checked.returncode == 0) is not late, checked.stderr


FORWARD_NOISE = {"property": "msg", "operator": "contains", "value": "noise", "action": "forward",
                 "target": "127.0.0.1", "port": 10514}


@pytest.mark.parametrize("source", ["file", "syslog"])
def test_a_noise_filter_that_forwards_is_refused_where_rsyslogd_would_run_it_twice(
        tmp_path, source):
    """Reading auditd's log, the filter file is included in the forwarding ruleset and read at
    the top level too: a forward in it gets two queues on one file, which rsyslogd refuses.
    The role names that filter before it changes anything; from the syslog socket it is fine."""
    settings = {"rsyslog_client_audit_source": source, "rsyslog_client_noise_filters": [],
                "rsyslog_client_noise_filters_extra": [FORWARD_NOISE]}
    problems = rendered("rsyslog_client", "rsyslog_client_filter_problems", **settings)
    assert problems == (["filters[1]: may only drop (stop), and also has a forward action"]
                        if source == "file" else [])
    (tmp_path / "rsyslog.d").mkdir()
    rules = [writable_filter_rule(filter_rule_from_spec(spec))
             for spec in rendered("rsyslog_client", "rsyslog_client_filters", **settings)]
    (tmp_path / "rsyslog.d" / "10-filter.conf").write_text(
        "".join(serialize_filter_rule(rule) for rule in rules), encoding="utf-8")
    checked = rsyslogd_check(tmp_path, drop_in(tmp_path, **settings))
    assert (checked.returncode == 0) is not problems, checked.stderr
    assert ("already used" in checked.stderr) is bool(problems), checked.stderr


@pytest.mark.parametrize("programs, tag", [([], "audisp-syslog"), (["auditd-events"], "auditd-events")])
def test_events_recognised_by_facility_alone_need_no_program_name(tmp_path, programs, tag):
    text = drop_in(tmp_path, rsyslog_client_audit_programs=programs,
                   rsyslog_client_audit_match="facility", rsyslog_client_noise_filters=[])
    assert 'tag="%s:"' % tag in text
    checked = rsyslogd_check(tmp_path, text)
    assert checked.returncode == 0, checked.stderr
