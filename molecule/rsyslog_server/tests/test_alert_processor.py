"""The alert processor as the rsyslog_server role deploys it, judged by what it does."""

import json
import re
import time
import uuid

from verify_support import WEBHOOK_RECEIVED, signed_alert, stored_events, wait_for_line

DROP_IN = "/etc/rsyslog.d/10-whotouched-server.conf"
CONFIG = "/etc/whotouched/alert-processor.json"
STORE = "/var/lib/whotouched/events.db"
SECRET = b"molecule-webhook-secret"


def test_the_processor_runs_under_rsyslogd_as_its_user(host, rsyslogd_identity):
    # omprog starts its program with the first message it has to hand over
    _send(host, _records(int(uuid.uuid4().int % 1000000), ["ls", "-l"]))
    rsyslogd = host.check_output("systemctl show --property=MainPID --value rsyslog").strip()
    user, group = rsyslogd_identity
    # user, group, arguments; rsyslog 8.2001 starts it as root, it then becomes rsyslogd's user
    expected = re.compile(r"^%s +%s +/usr/bin/python3 -s /usr/local/lib/whotouched-server-audit/"
                          r"whotouched-alert-processor\.py --user %s /etc/whotouched/alert-processor\.json$"
                          % (user, group, user), re.M)
    deadline = time.monotonic() + 30
    while True:
        children = host.run("ps -o user=,group=,args= --ppid %s", rsyslogd).stdout
        if expected.search(children):
            break
        assert time.monotonic() < deadline, "rsyslogd's children: %r" % children
        time.sleep(0.5)


def test_its_configuration_is_private_and_holds_the_settings(host, rsyslogd_identity):
    # readable by root and, through its group, by the processor (run as rsyslogd's user)
    _user, group = rsyslogd_identity
    config = host.file(CONFIG)
    assert (config.mode, config.user, config.group) == (0o640, "root", group)
    assert host.file("/etc/whotouched").mode == 0o750
    settings = json.loads(config.content_string)
    assert settings["webhooks"][0]["url"] == "http://127.0.0.1:9099/alert"
    assert settings["rules"][0]["id"] == "molecule-marker"
    assert settings["store"]["path"] == STORE
    # the secret is in the private file only, never in rsyslog's configuration
    assert "molecule-webhook-secret" not in host.file(DROP_IN).content_string


def test_the_omprog_action_is_in_the_validated_configuration(host):
    assert host.run("rsyslogd -N1").rc == 0
    text = host.file(DROP_IN).content_string
    action = re.search(r'action\(type="omprog".*?\)\n', text, re.S)
    assert action, text
    for setting in ('confirmMessages="on"', 'queue.type="LinkedList"',
                    'action.resumeRetryCount="-1"', 'queue.timeoutEnqueue="0"',
                    'output="/var/log/whotouched-alert-processor.log"',
                    'queue.workerThreads="1"', 'forceSingleInstance="on"'):
        assert setting in action.group(0)
    # both the audit and the Windows events are handed to it
    assert text.count("call whotouched_processor") == 2


def _records(serial, argv):
    stamp = "msg=audit(%d.123:%d):" % (int(time.time()), serial)
    return [
        "type=SYSCALL %s arch=c000003e syscall=59 success=yes exit=0 items=2 ppid=1 pid=4242 "
        "auid=1000 uid=0 gid=0 euid=0 tty=pts0 ses=3 comm=\"auditctl\" "
        "exe=\"/usr/sbin/auditctl\" key=\"exec\"" % stamp,
        "type=EXECVE %s argc=%d %s" % (stamp, len(argv), " ".join(
            'a%d="%s"' % (index, arg) for index, arg in enumerate(argv))),
        "type=PROCTITLE %s proctitle=%s" % (stamp, "00".join(
            arg.encode().hex().upper() for arg in argv)),
    ]


def _send(host, records):
    for record in records:
        host.run_expect([0], "logger -n 127.0.0.1 -P 514 -T -t audisp-syslog -p local6.info %s",
                        record)


def test_an_audit_line_sent_over_tcp_lands_in_the_store_and_alerts(host, rsyslogd_identity):
    marker = "whotouched-" + uuid.uuid4().hex[:12]
    serial = int(uuid.uuid4().int % 1000000)
    _send(host, _records(serial, ["auditctl", "-D", marker]))
    event = _poll(lambda: stored_events(host, search=marker), 30)[-1]
    assert event["argv"] == ["auditctl", "-D", marker]
    assert event["level"] == "critical" and event["address"] == "127.0.0.1"
    assert event["host"] == host.check_output("hostname")
    alert = signed_alert(wait_for_line(host, WEBHOOK_RECEIVED, marker, timeout=30), SECRET)
    assert alert["kind"] == "event" and alert["level"] == "critical"
    assert alert["event"]["argv"] == ["auditctl", "-D", marker]
    # written by the processor, so by the user rsyslogd runs as
    user, _group = rsyslogd_identity
    store = host.file(STORE)
    assert store.mode == 0o640 and store.user == user


def _poll(found, seconds):
    """The first truthy answer of ``found()``, asked until ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        answer = found()
        if answer or time.monotonic() > deadline:
            assert answer, "nothing found in %d s" % seconds
            return answer
        time.sleep(1)
