"""Commands typed on an audited host reach the log server's event store, and the store filled
again from the stored files holds the same events.

The scripted session of test_audit_events_kernel (real kernel, real auditd, a user with a login
uid) goes through the real audit syslog plugin and a client rsyslogd to a server rsyslogd
configured as the rsyslog_server role configures it: the runcmdformat file, and the alert
processor through omprog (the role's own section), installed as the role installs it.  Then
``--rebuild`` fills a second store from the server's file, twice.

Run under the kernel lock (``flock /run/whotouched-kernel.lock``).
"""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from tests.support.event_store import stored_events
from tests.support.ports import free_port
from tests.support.process import run
from tests.support.role_vars import install_processor
from tests.system.test_alert_processor import processor_section, store_ruleset
# session_log is a fixture the tests ask for by name
from tests.system.test_audit_events_kernel import (  # noqa: F401 pylint: disable=unused-import
    AUDISP_SYSLOG,
    RSYSLOGD,
    UID,
    check_session,
    comparable,
    read_events,
    role_template,
    session_log,
    through_the_syslog_plugin,
    wait_for,
)

PYTHON = "/usr/bin/python3"

pytestmark = [
    pytest.mark.needs_root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loads rules into the kernel)"),
    pytest.mark.skipif(not os.path.exists(RSYSLOGD) or not os.path.exists(AUDISP_SYSLOG),
                       reason="rsyslogd or audisp-syslog is not installed "
                              "(apt-get install rsyslog auditd)"),
    pytest.mark.skipif(not shutil.which("unshare"), reason="unshare (util-linux) is not installed"),
]


def _config(work, name):
    path = work / ("%s.json" % name)
    path.write_text(json.dumps({"store": {"path": str(work / name / "events.db")},
                                "journal": str(work / name / "processor.journal"),
                                "wait_seconds": 2, "rebuild_files": ["audit.log"]}))
    return path


@pytest.fixture(scope="module")
def pipeline(session_log, tmp_path_factory):
    """The session sent through rsyslog to the server's file and its processor's store."""
    work = tmp_path_factory.mktemp("event-store")
    for name in ("client", "server", "remote"):
        (work / name).mkdir()
    stored = work / "remote" / "127.0.0.1" / "audit.log"
    stored.parent.mkdir()
    entry = install_processor(work / "lib")
    config = _config(work, "live")
    port = free_port()
    (work / "server.conf").write_text(
        'global(workDirectory="%s")\nmodule(load="imtcp")\n%s%s%s'
        % (work / "server", role_template("runcmdformat"),
           processor_section(work, entry, config, 100000),
           store_ruleset("store", "runcmdformat", stored, port)))
    with through_the_syslog_plugin(work, port, session_log):
        expected = len(read_events(session_log))
        wait_for(lambda: len(mine(stored_events(work / "live" / "events.db"))) >= expected, 120,
                 "the session's %d events in the store" % expected)
        time.sleep(1)
    return {"work": work, "stored": stored, "entry": entry, "log": session_log}


def mine(events):
    return [event for event in events if event.get("auid") == UID or event.get("key") == "wt-watch"]


def test_the_commands_typed_on_the_audited_host_are_in_the_store(pipeline):
    live = mine(stored_events(pipeline["work"] / "live" / "events.db"))
    check_session(live)
    assert sorted(map(comparable, live)) == sorted(map(comparable, read_events(pipeline["log"])))
    assert all(event["address"] == "127.0.0.1" for event in live)


def test_the_store_rebuilt_from_the_files_holds_the_events_of_the_live_path(pipeline):
    work = pipeline["work"]
    config = _config(work, "rebuilt")
    command = [PYTHON, "-s", str(pipeline["entry"]), "--user", "root", "--rebuild",
               str(work / "remote"), str(config)]
    first = run(*command)
    assert first.returncode == 0, first.stderr
    second = run(*command)  # idempotent: nothing stored twice
    assert second.returncode == 0, second.stderr
    last = second.stderr.strip().splitlines()[-1]  # "... rebuilt from DIR: {counts}"
    counts = json.loads(last[last.index("{"):])
    assert counts["stored"] == 0 and counts["already_stored"] == counts["events"] > 0
    live = stored_events(work / "live" / "events.db")
    rebuilt = stored_events(work / "rebuilt" / "events.db")
    assert sorted(rebuilt, key=_stamp) == sorted(live, key=_stamp)
    check_session(mine(rebuilt))


def _stamp(event):
    return event["epoch"] or 0, event["serial"] or 0
