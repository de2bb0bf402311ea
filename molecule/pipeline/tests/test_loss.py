"""Loss that cannot be avoided is told to the log server, with the kernel's own count.

The kernel's backlog is made to overflow on purpose: auditd stopped (SIGSTOP), a backlog of
one record, no waiting, and a login user's programs run meanwhile.  The kernel counts what
it could not queue; the loss reporter linux_audit installs (whotouched-audit-health) writes
that count into the audit stream, and the record reaches the log server like any event.
"""

import json
import re
import shlex

from pipeline_support import ALICE, poll, report, unique
from verify_support import WEBHOOK_RECEIVED, as_logged_in_user

REPORTER = "/usr/local/sbin/whotouched-audit-health"
STATE = "/run/whotouched-audit-health-test.json"
HEALTH_RECORD = re.compile(r"op=whotouched-audit-health lost=(\d+) lost_total=(\d+) since=([0-9.]+)")


def kernel_status(client):
    text = client.run_expect([0], "auditctl -s").stdout
    return {name: int(value) for name, value in re.findall(r"^(\w+) (\d+)$", text, re.M)}


def report_now(client):
    """One look of the loss reporter at the kernel's counters, written as an audit record."""
    client.run_expect([0], "python3 %s --once --state %s" % (REPORTER, STATE))


def health_records(server, audit_file):
    lines = server.run("grep -a -- op=whotouched-audit-health %s", audit_file).stdout.splitlines()
    return [HEALTH_RECORD.search(line).groups() for line in lines if HEALTH_RECORD.search(line)]


def test_a_backlog_overflow_reaches_the_log_server_with_the_kernels_count(client, server, audit_file):
    assert client.file(REPORTER).exists, "linux_audit did not install the loss reporter"
    client.run_expect([0], "rm -f %s" % STATE)
    report_now(client)  # the reporter's starting point
    before = kernel_status(client)
    run_id = unique("overflow")
    programs = "n=0; while [ $n -lt 300 ]; do n=$((n + 1)); /bin/true %s $n; done" % run_id
    try:
        client.run_expect([0], "auditctl -b 1 --backlog_wait_time 0")
        client.run_expect([0], "kill -STOP %d" % before["pid"])
        client.run_expect([0], as_logged_in_user("sh -c %s" % shlex.quote(programs), uid=ALICE))
    finally:
        client.run("kill -CONT %d" % before["pid"])
        client.run("auditctl -b %d --backlog_wait_time %d" % (before["backlog_limit"], before["backlog_wait_time"]))
    after = kernel_status(client)
    lost = after["lost"] - before["lost"]
    assert lost > 0, "the kernel lost nothing: the overflow was not provoked"
    report_now(client)

    def the_report():
        found = [record for record in health_records(server, audit_file)
                 if int(record[1]) == after["lost"]]
        return found[-1] if found else None

    record = poll(the_report, 60)
    report("backlog-overflow", lost_by_kernel=lost, record=record)
    assert record, "no loss report with the kernel's count %d reached the log server" % after["lost"]
    assert int(record[0]) == lost, "the report says %s lost, the kernel %d" % (record[0], lost)


def test_the_report_and_the_alerts_tell_the_loss_as_a_high_level_event(client, server, audit_file):
    lost_total = kernel_status(client)["lost"]
    result = server.ansible("whotouched.server_audit.audit_report",
                            "path=%s min_level=high since=1h" % audit_file, check=False)
    assert not result.get("failed"), result
    losses = [event for event in result["events"] if event["kind"] == "loss"]
    assert losses, "the report shows no loss: %s" % result["table"][-5:]
    last = losses[-1]
    assert (last["level"], last["rules"]) == ("high", ["events-lost"]), last
    assert last["loss"]["lost"] > 0 and last["loss"]["lost_total"] == lost_total, last
    assert last["loss"]["since"] < last["epoch"], last
    line = next(line for line in result["table"] if "lost %d audit events" % last["loss"]["lost"] in line)
    assert "pipeline-client" in line, line

    def alerted():
        return [json.loads(json.loads(received)["body"]) for received in
                server.run("cat %s", WEBHOOK_RECEIVED).stdout.splitlines()
                if "events-lost" in received]

    alerts = poll(alerted, 60)
    assert alerts, "the alert processor raised no alert for the loss"
    # The reporter's first look may report what the kernel lost since boot: the alert for the
    # loss provoked here may then be folded into that one's window (a summary comes later).
    told = ["lost %d audit events" % event["loss"]["lost"] for event in losses]
    assert any(any(text in alert["text"] for text in told) for alert in alerts), (told, alerts[-1])


def test_a_reset_of_the_kernels_count_is_told_as_a_least_figure(client, server, audit_file):
    """auditctl --reset-lost puts the kernel's count back to 0, which would hide what was
    lost: the next report says so, and the log server says "lost at least"."""
    report_now(client)
    before = kernel_status(client)["lost"]
    assert before > 0, "the overflow provoked above left the kernel's count at 0"
    client.run_expect([0], "auditctl --reset-lost")
    report_now(client)

    def the_report():
        found = [line for line in server.run(
            "grep -a -- op=whotouched-audit-health %s", audit_file).stdout.splitlines()
            if "lost_total_reset=yes" in line]
        return found[-1] if found else None

    record = poll(the_report, 60)
    report("lost-count-reset", lost_total_before=before, record=record)
    assert record, "no report of the count gone back to 0 reached the log server"
    assert int(HEALTH_RECORD.search(record).group(2)) < before, record
    result = server.ansible("whotouched.server_audit.audit_report",
                            "path=%s min_level=high since=1h" % audit_file, check=False)
    assert not result.get("failed"), result
    resets = [event for event in result["events"]
              if event["kind"] == "loss" and event["loss"]["lost_total_reset"]]
    assert resets and resets[-1]["level"] == "high", result["table"][-5:]
    # a new era of the count: told once, whether or not the report that said so arrived
    assert resets[-1]["loss"]["era"] >= 1, resets[-1]
    assert any(re.search(r"lost (at least [0-9]+|an unknown number of) audit events", line)
               and "pipeline-client" in line for line in result["table"]), result["table"][-5:]
