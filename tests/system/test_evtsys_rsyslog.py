"""evtsys's datagrams, as the model of evtsys builds them, through the real rsyslogd.

A private rsyslogd (its own configuration, work directory and pid file; nothing installed or
started system-wide) takes UDP and TCP on loopback ports and stores what it gets in the
rsyslog_server role's own ``evtsysformat`` template, as the role does for evtsys senders.
The datagrams are what tests/support/evtsys_model.py (written from evtsys's C source) says
evtsys 4.5.1 sends for real localized Security messages, whole and cut at 1024 bytes; the
event library then reads the stored file as audit_report does.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    iter_events,
    iter_lines,
)
from tests.support import evtsys_model
from tests.support.ports import free_port
from tests.system.private_rsyslogd import RSYSLOGD, private_rsyslogd
from tests.system.test_audit_events_kernel import role_template, wait_for

SAMPLES = json.loads((Path(__file__).resolve().parents[1] / "unit" / "plugins" / "module_utils"
                      / "_events" / "fixtures" / "windows_events" / "samples.json")
                     .read_text(encoding="utf-8"))
MESSAGES = [sample for sample in SAMPLES if sample["kind"] == "message"]
READ = ("account", "target_account", "source_address", "workstation")
SETTINGS = evtsys_model.Settings(log_hosts=["127.0.0.1"], port=514, facility=3, log_level=0,
                                 tag=None, tcp=False, include_only=False, query_dhcp=False,
                                 use_ip_address=False, status_interval=0, unread=[])

pytestmark = [
    pytest.mark.needs_root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (runs rsyslogd)"),
    pytest.mark.skipif(not os.path.exists(RSYSLOGD),
                       reason="rsyslogd is not installed (apt-get install rsyslog)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("evtsys")
    (work / "spool").mkdir()
    udp_port, tcp_port = free_port(), free_port()
    stored = work / "windows.log"
    config = (
        'global(workDirectory="%s")\nmodule(load="imudp")\nmodule(load="imtcp")\n%s'
        'ruleset(name="windows") {\n'
        '  action(type="omfile" file="%s" template="evtsysformat")\n'
        '}\n'
        'input(type="imudp" address="127.0.0.1" port="%d" ruleset="windows")\n'
        'input(type="imtcp" address="127.0.0.1" port="%d" ruleset="windows")\n'
        % (work / "spool", role_template("evtsysformat"), stored, udp_port, tcp_port))
    with private_rsyslogd(work, config, tcp_port):
        yield {"udp": udp_port, "tcp": tcp_port, "stored": stored}


def stored_events(server, second):
    """The stored events sent with the time stamp's ``second`` (the log server keeps evtsys's
    time stamp, not the computer name the datagram gives)."""
    if not server["stored"].exists():
        return []
    with open(server["stored"], "rb") as stream:
        return [event for event in iter_events(iter_lines(stream))
                if int(event["epoch"]) % 60 == second]


def payload(item, second, size, computer="DC01"):
    text = evtsys_model.syslog_text(
        SETTINGS, "Nov 14 22:13:%02d" % second, computer, "Security-Auditing", item["event_id"],
        evtsys_model.collapse_message(item["text"], size), audit_failure=not item["success"],
        size=size)
    return text, evtsys_model.utf8_payload(text, size)


def send_udp(server, datagrams):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for datagram in datagrams:
            udp.sendto(datagram, ("127.0.0.1", server["udp"]))


def test_real_localized_messages_arrive_and_are_read_whole_and_cut(server):
    """Every real message, whole from the LP build, is read with its names; the English
    4624 cut by the standard build at 1023 bytes and the French 4625 cut in a filled 1024-byte
    buffer keep the names before the cut and are marked truncated."""
    whole = [payload(item, index, 4096)[1] for index, item in enumerate(MESSAGES)]
    english = next(item for item in MESSAGES if item["id"] == "en-4624")
    french = next(item for item in MESSAGES if item["id"] == "fr-4625")
    cut_english = payload(english, 40, 1024, computer="FILESERVER-0042")[1]
    cut_french = payload(french, 41, 1024)[0].encode("utf-8")[:1024]
    assert len(cut_english) == 1023 and payload(french, 41, 1024)[1] is None
    send_udp(server, whole + [cut_english, cut_french])
    wait_for(lambda: all(stored_events(server, second) for second in
                         list(range(len(whole))) + [40, 41]), 30, "rsyslogd to store the datagrams")
    for index, item in enumerate(MESSAGES):
        events = stored_events(server, index)
        assert len(events) == 1, item["id"]
        assert {name: events[0][name] for name in READ} == item["expected"], item["id"]
        assert not events[0]["truncated"], item["id"]
    for item, second in ((english, 40), (french, 41)):
        events = stored_events(server, second)
        assert len(events) == 1
        assert {name: events[0][name] for name in READ} == item["expected"], item["id"]
        assert events[0]["truncated"] and not events[0]["complete"], item["id"]


def test_evtsys_tcp_messages_run_together_in_rsyslog(server):
    """Why the role refuses EnableTcp: evtsys writes each message without a line end or octet
    count (wsock.c WSockSend), and rsyslog's TCP input takes the next message as part of the
    first; an event is lost inside another's text."""
    item = next(item for item in MESSAGES if item["id"] == "fr-4724")
    first, second = payload(item, 50, 4096)[1], payload(item, 51, 4096, computer="SECOND")[1]
    with socket.create_connection(("127.0.0.1", server["tcp"])) as tcp:
        tcp.sendall(first + second)
    wait_for(lambda: stored_events(server, 50), 30, "rsyslogd to store the TCP stream")
    events = stored_events(server, 50) + stored_events(server, 51)
    assert len(events) == 1 and "SECOND Security-Auditing: 4724" in events[0]["message"]
