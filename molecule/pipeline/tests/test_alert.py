"""A high-risk command typed on the audited client raises, within a bounded time, a signed
alert at the log server's webhook: kernel, client rsyslog, server rsyslog, alert processor."""

import time

import yaml
from pipeline_support import CLIENT, SCENARIO_DIR, kernel_serial, poll, report, run_on_client
from verify_support import WEBHOOK_RECEIVED, signed_alert, stored_events

# How long the alert may take from the kernel to the webhook.
ALERT_BOUND = 60
# Wiping one's shell history: "history-removed" (high) in the shipped risk rules.  rm -f of
# a file that need not exist touches nothing else and always succeeds.
WIPE = ["rm", "-f", "/home/alice/.bash_history"]


def _webhook_secret():
    """The secret the scenario gives the processor's webhook (group_vars/log_servers.yml)."""
    with open(SCENARIO_DIR / "group_vars" / "log_servers.yml", encoding="utf-8") as settings:
        webhooks = yaml.safe_load(settings)["rsyslog_server_processor_webhooks"]
    return webhooks[0]["secret"].encode("utf-8")


def test_a_history_wipe_typed_on_the_client_alerts_the_webhook(client, server):
    secret = _webhook_secret()
    started = time.monotonic()
    pid = run_on_client(client, " ".join(WIPE))
    kernel_serial(client, pid, r'comm="rm" exe="/usr/bin/rm"')

    # Every alert the receiver kept, its signature checked, that is about this process.
    def arrived():
        return [alert for alert in (signed_alert(line, secret) for line in
                                    server.run("cat %s", WEBHOOK_RECEIVED).stdout.splitlines())
                if alert["event"].get("pid") == pid]

    alerts = poll(arrived, ALERT_BOUND)
    seconds = round(time.monotonic() - started, 1)
    assert alerts, "no alert about pid %d at the webhook within %d s; it received:\n%s" % (
        pid, ALERT_BOUND, server.run("cat %s", WEBHOOK_RECEIVED).stdout[-4000:])
    report("alert", seconds_to_webhook=seconds)
    assert len(alerts) == 1, alerts
    alert = alerts[0]

    event = alert["event"]
    assert alert["kind"] == "event" and alert["level"] == "high", alert
    assert alert["rules"] == ["history-removed"], alert
    # which host, from which address, who, what
    client_address = server.run_expect([0], "getent ahostsv4 %s", CLIENT).stdout.split()[0]
    assert (alert["host"], alert["address"]) == (CLIENT, client_address), alert
    assert (event["login_user"], event["user"]) == ("alice", "alice"), event
    assert event["argv"] == WIPE, event
    for shown in (CLIENT, "alice", " ".join(WIPE), "[HIGH]"):
        assert shown in alert["text"], alert["text"]

    # The store holds every event of that process id: the shell and setpriv that exec'd rm
    # (not alerted: below high), and rm itself, as alerted.
    stored = [found for found in stored_events(server, host=CLIENT, session=event["session"])
              if found["pid"] == pid]
    wipes = [found for found in stored if found["argv"] == WIPE]
    assert [(found["level"], found["rules"], found["host"], found["address"], found["login_user"])
            for found in wipes] == [("high", ["history-removed"], CLIENT, client_address, "alice")], stored
    assert all(found["level"] in ("info", "low", "medium") for found in stored if found["argv"] != WIPE), stored
