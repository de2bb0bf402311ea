"""Two sites, one store: both log servers' processors write into one ClickHouse, and one
audit_report, asked on either log server, answers for the whole fleet.  The commands are typed on
the audited clients and recorded by the real kernel (the tests run in file order: client-b is
audited from test_client_b_... on)."""

from pathlib import Path

from verify_support import as_logged_in_user, poll, run_playbook, stored_events, unique

SCENARIO_DIR = Path(__file__).resolve().parents[1]
ALICE = 1001
ARRIVAL_SECONDS = 90


def type_command(client, marker):
    """``/usr/bin/echo <marker>`` typed by alice in a login session (not a program the noise
    filters drop); its process id."""
    result = client.run(as_logged_in_user("/usr/bin/echo %s" % marker, uid=ALICE))
    assert result.stdout.split(), result.stderr
    return int(result.stdout.split()[0])


def found(log_server, marker):
    """The executions of ``echo <marker>`` the fleet's store answers, asked on ``log_server``
    (the search also finds the wrapper that set the login uid and exec'd it)."""
    return [event for event in stored_events(log_server, search=marker, since="1d", limit=1000)
            if event.get("argv") == ["/usr/bin/echo", marker]]


def address_of(host, name):
    return host.run("getent ahostsv4 %s", name).stdout.split()[0]


def test_both_log_servers_write_into_one_clickhouse(store, site_a, site_b):
    for site in (site_a, site_b):
        config = site.file("/etc/whotouched/alert-processor.json").content_string
        assert '"clickhouse"' in config and "fleet-clickhouse:8123" in config
        # rsyslog runs the processor (omprog)
        assert site.run("pgrep -f whotouched-alert-processor").rc == 0
    tables = store.run("clickhouse-client --query 'SHOW TABLES FROM whotouched'")
    assert tables.rc == 0, tables.stderr
    assert tables.stdout.split(), "the schema was not created"


def check_arrives_through_the_other_site(client, client_name, its_site, other_site):
    """A command typed on ``client`` (forwarding to ``its_site``) is answered on
    ``other_site``, once, with the address ``its_site`` saw it from; both sites answer alike."""
    marker = unique(client_name)
    pid = type_command(client, marker)
    events = poll(lambda: found(other_site, marker), ARRIVAL_SECONDS, interval=2)
    assert events, "%s's command did not reach the store (asked on the other site)" % client_name
    assert [event["pid"] for event in events] == [pid]
    assert events[0]["address"] == address_of(its_site, client_name)
    assert found(its_site, marker) == events


def test_a_command_on_client_a_is_answered_on_both_log_servers(client_a, site_a, site_b):
    check_arrives_through_the_other_site(client_a, "fleet-client-a", site_a, site_b)


def test_clickhouse_away_for_a_while_loses_nothing(store, client_a, site_a):
    store.run_expect([0], "systemctl stop clickhouse-server")
    try:
        markers = [unique("fleet-away-%d" % number) for number in range(20)]
        pids = {marker: type_command(client_a, marker) for marker in markers}
        # the lines reach site-a and wait in its processor's queue, refused, not dropped
        assert poll(lambda: site_a.run("grep -rl %s /var/log/remote", markers[-1]).rc == 0, 60, interval=2)
        rsyslog_said = site_a.run("journalctl -u rsyslog --since -5min --no-pager").stdout
        print("fleet: while ClickHouse was away, site-a's rsyslog said: %s" % rsyslog_said[-600:])
    finally:
        store.run_expect([0], "systemctl start clickhouse-server")
    arrived = poll(lambda: all(found(site_a, marker) for marker in markers), 180, interval=3)
    assert arrived, "not every command typed while ClickHouse was away reached it"
    for marker in markers:
        events = found(site_a, marker)
        assert [event["pid"] for event in events] == [pids[marker]], "%s: %r" % (marker, events)


def test_client_b_audited_after_client_a_hands_over_the_kernel(client_a, client_b):
    # one audit daemon per kernel: client-a's lets go, then linux_audit runs on client-b
    client_a.run("auditctl --signal TERM 2>/dev/null || kill -TERM \"$(cat /run/auditd.pid)\"")
    assert poll(lambda: "pid 0" in client_a.run("auditctl -s").stdout.splitlines(), 30)
    run_playbook(SCENARIO_DIR / "audit_client_b.yml")
    status = client_b.run("auditctl -s").stdout
    assert "pid 0" not in status.splitlines(), status


def test_one_report_answers_for_both_sites(client_b, site_a, site_b):
    check_arrives_through_the_other_site(client_b, "fleet-client-b", site_b, site_a)
    # one question, both sites' hosts in the answer
    answer = stored_events(site_b, search="fleet-client-", since="1d", limit=1000)
    addresses = {event["address"] for event in answer}
    assert {address_of(site_a, "fleet-client-a"), address_of(site_b, "fleet-client-b")} <= addresses
