"""Shared by the scenarios' testinfra verifiers: the collection's own parsers, so the
verifiers judge configuration files by meaning, not by the text the role wrote."""

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.collection_path import make_collection_importable  # noqa: E402

make_collection_importable()

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.formatting import (
    format_rule,
    normalize_rule,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.merge import (
    parse_rules_text,
)


def normalized_rules(text):
    """The rules of an audit rules text, normalized, in file order (comments dropped).

    A line that does not parse fails the verifier with the parser's message.
    """
    lines = parse_rules_text(text)
    errors = [line.error for line in lines if line.error]
    assert not errors, errors
    return [format_rule(line.rule) for line in lines if line.rule is not None]


def normalized(rules):
    """Rules written any way auditctl accepts, normalized."""
    return [normalize_rule(rule) for rule in rules]


def key_values(text):
    """``key = value`` lines of auditd.conf and plugin files as a dict (comments dropped)."""
    values = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def audit_major_version(host):
    """The installed audit userspace's major version, from the package database (auditctl
    may refuse even ``-v`` in a container without audit capabilities)."""
    result = host.run("dpkg-query -W -f '${Version}' auditd || rpm -q --qf '%{VERSION}' audit")
    assert result.rc == 0, result.stderr
    return int(result.stdout.split(":")[-1].split(".")[0])


def syslog_plugin_path(host):
    """Where the audit syslog plugin's file is: audispd's directory on audit 2.x."""
    if audit_major_version(host) < 3:
        return "/etc/audisp/plugins.d/syslog.conf"
    return "/etc/audit/plugins.d/syslog.conf"


def rules_file_rules(text):
    """The parsed rules of a rules file (a line that does not parse fails the verifier)."""
    lines = parse_rules_text(text)
    errors = [line.error for line in lines if line.error]
    assert not errors, errors
    return [line.rule for line in lines if line.rule is not None]


def rules_missing_from_kernel(file_text, auditctl_listing):
    """The file's rules that ``auditctl -l`` does not list, compared by meaning."""
    from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.parser import (
        parse_rule,
    )
    from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.kernel import (
        as_kernel_sees_it,
        kernel_relevant,
    )

    listed = [parse_rule(line.strip()) for line in auditctl_listing.splitlines()
              if line.strip() and line.strip() != "No rules"]
    held = {as_kernel_sees_it(rule) for rule in listed}
    return [format_rule(rule) for rule in rules_file_rules(file_text)
            if kernel_relevant(rule) and as_kernel_sees_it(rule) not in held]


def listening_ports(ss_output, process):
    """The (protocol, port) pairs ``process`` listens on, from ``ss -tulnpH`` output."""
    ports = set()
    for line in ss_output.splitlines():
        fields = line.split()
        if len(fields) < 5 or '"%s"' % process not in line:
            continue
        ports.add((fields[0], int(fields[4].rsplit(":", 1)[1])))
    return ports


def wait_for_line(host, path, marker, timeout=20.0):
    """The first line of the file ``path`` on ``host`` holding ``marker`` (polls; fails after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        result = host.run("grep -F -- %s %s", marker, path)
        if result.rc == 0:
            return result.stdout.splitlines()[0]
        assert time.monotonic() < deadline, "no line with %r in %s after %.0f s" % (marker, path, timeout)
        time.sleep(0.5)


def as_logged_in_user(command, uid=1001, run_as=None):
    """A shell command line running ``command`` the way a login session would: pam_loginuid's
    write to /proc/self/loginuid (``uid``), then the user ``run_as`` (default: ``uid`` itself;
    0 for a command run through sudo).  The line first prints the process id the command
    will have (``exec`` keeps it), by which the kernel's records of it can be found."""
    run_as = uid if run_as is None else run_as
    return "sh -c " + shlex.quote(f"echo $$ && echo {uid} > /proc/self/loginuid && "
                                  f"exec setpriv --reuid={run_as} --regid={run_as} --clear-groups {command}")


# What the test webhook receiver (tasks/webhook_receiver.yml) keeps: one JSON line per POST.
WEBHOOK_RECEIVED = "/var/lib/whotouched-test-webhook.jsonl"


def signed_alert(received_line, secret):
    """The alert of one line the test webhook receiver kept, once its signature header is
    checked against an HMAC-SHA256 of the body with ``secret`` (bytes), computed here."""
    import hashlib
    import hmac
    import json

    received = json.loads(received_line)
    body = received["body"].encode("ascii")
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    assert received["signature"] == expected, "bad signature %r on %r" % (received["signature"], body)
    return json.loads(body)


def stored_events(log_server, **options):
    """The events the log server's event store answers for ``options`` (audit_report's, with
    values free of spaces), asked as an admin would: audit_report with source=store."""
    arguments = " ".join("%s=%s" % item for item in sorted(dict(options, source="store").items()))
    result = log_server.ansible("whotouched.server_audit.audit_report", arguments, check=False)
    assert not result.get("failed"), result
    return result["events"]


def platform_host(request, name):
    """The testinfra host of the scenario's platform ``name`` (through Molecule's inventory)."""
    inventory = request.config.option.ansible_inventory or os.environ["MOLECULE_INVENTORY_FILE"]
    return testinfra.get_host(name, connection="ansible", ansible_inventory=inventory)


def unique(prefix):
    """A word no earlier run of a scenario can have logged."""
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def poll(probe, timeout, interval=0.5):
    """``probe()``'s first true value, or its last value once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def run_playbook(playbook, extra_vars=None):
    """Run ``playbook`` (a scenario's own, with its group_vars) against the scenario's
    inventory, as a user would change the running hosts; fails the test when it fails."""
    command = shutil.which("ansible-playbook") or str(Path(sys.executable).with_name("ansible-playbook"))
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory:
        pytest.fail("MOLECULE_INVENTORY_FILE is not set: run the verifier through molecule")
    result = subprocess.run(
        [command, "-i", inventory, str(playbook), "-e", json.dumps(extra_vars or {})],
        cwd=str(Path(playbook).parent), capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
