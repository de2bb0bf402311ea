"""The linux_audit role's end state on systemd containers, judged by meaning."""

from verify_support import audit_major_version, key_values, normalized, normalized_rules, syslog_plugin_path

RULES_FILE = "/etc/audit/rules.d/50-whotouched.rules"

# The seed's rules, spelled the seed's way (legacy action order, -k): the role writes
# them differently, and they must still be the same rules.
SEED_RULES = [
    "-a exit,always -F arch=b64 -S execveat -S execve -k exec",
    "-a exit,always -F arch=b32 -S execve -S execveat -k exec",
    "-w /etc/crontab -p wa -k crontab",
    "-w /etc/hosts -p wa -k hosts",
    "-w /etc/hosts.allow -p wa -k hosts-allow",
    "-w /etc/hosts.deny -p wa -k hosts-deny",
    "-w /etc/fstab -p wa -k fstab",
    "-w /etc/passwd -p wa -k passwd",
    "-w /etc/shadow -p wa -k shadow",
    "-w /etc/group -p wa -k group",
]
EXPERT_RULES = [
    "-w /etc/cron.d/ -p wa -k crontab",
    "-w /etc/gshadow -p wa -k gshadow",
    "-w /etc/sudoers -p wa -k sudoers",
    "-w /etc/sudoers.d/ -p wa -k sudoers",
    "-w /etc/ssh/sshd_config -p wa -k sshd-config",
    "-w /root/.ssh/ -p wa -k root-ssh",
    "-w /var/spool/cron/ -p wa -k crontab",
    "-w /etc/systemd/system/ -p wa -k systemd-unit",
    "-w /etc/ld.so.preload -p wa -k ld-preload",
    "-w /etc/pam.d/ -p wa -k pam",
    "-w /etc/audit/ -p wa -k audit-config",
    "-w /etc/libaudit.conf -p wa -k audit-config",
]
# What a security admin expects beyond that: the places persistence hides, and the
# loading of kernel modules.
PERSISTENCE_RULES = [
    "-w /etc/cron.hourly/ -p wa -k crontab",
    "-w /etc/cron.daily/ -p wa -k crontab",
    "-w /etc/cron.weekly/ -p wa -k crontab",
    "-w /etc/cron.monthly/ -p wa -k crontab",
    "-w /etc/cron.allow -p wa -k crontab",
    "-w /etc/cron.deny -p wa -k crontab",
    "-w /etc/ssh/sshd_config.d/ -p wa -k sshd-config",
    "-w /usr/lib/systemd/system/ -p wa -k systemd-unit",
    "-w /lib/systemd/system/ -p wa -k systemd-unit",
    "-w /etc/init.d/ -p wa -k init-script",
    "-w /etc/ld.so.conf -p wa -k ld-conf",
    "-w /etc/ld.so.conf.d/ -p wa -k ld-conf",
    "-w /etc/profile -p wa -k shell-profile",
    "-w /etc/profile.d/ -p wa -k shell-profile",
    "-w /etc/bash.bashrc -p wa -k shell-profile",
    "-w /etc/bashrc -p wa -k shell-profile",
]
MODULE_RULES = [
    "-a always,exit -F arch=b64 -S finit_module -S init_module -S delete_module -k modules",
    "-a always,exit -F arch=b32 -S delete_module,init_module,finit_module -k modules",
]
# converge.yml adds two watches in the syscall form: one in /etc, one in a missing directory.
SYSCALL_FORM_KEPT = "-a always,exit -F arch=b64 -F path=/etc/motd -F perm=wa -k motd"
SYSCALL_FORM_MISSING = "-a always,exit -F dir=/opt/no-such-app -F perm=wa -k no-such-app"
EXCLUSIONS = ["-a exclude,never -F msgtype=CRYPTO_KEY_USER"]
# The kernel's backlog for bursts, before every rule.
CONTROL_RULES = ["-b 8192", "--backlog_wait_time 60000"]


def watch_directory_exists(host, rule):
    path = rule.split()[1]
    return host.file(path if path.endswith("/") else path.rsplit("/", 1)[0] or "/").is_directory


def test_rules_file_holds_exactly_the_default_set(host):
    rules_file = host.file(RULES_FILE)
    assert rules_file.user == "root" and rules_file.mode == 0o640
    rules = normalized_rules(rules_file.content_string)
    # A watch whose directory is missing would stop auditctl -R at that line: left out.
    expected = [rule for rule in CONTROL_RULES + EXCLUSIONS + SEED_RULES + EXPERT_RULES + PERSISTENCE_RULES
                + MODULE_RULES if not rule.startswith("-w") or watch_directory_exists(host, rule)]
    assert sorted(rules) == sorted(normalized(expected + [SYSCALL_FORM_KEPT]))


def test_syscall_form_watch_is_kept_or_left_out_by_its_path_field(host):
    assert host.file("/etc").is_directory and not host.file("/opt/no-such-app").exists
    rules = normalized_rules(host.file(RULES_FILE).content_string)
    assert normalized([SYSCALL_FORM_KEPT])[0] in rules
    assert normalized([SYSCALL_FORM_MISSING])[0] not in rules


def test_new_persistence_watches_on_directories_these_hosts_have(host):
    # A watch is in exactly when the host has the directory it needs (every image has the
    # first three; unit files live under /usr/lib, /lib, or both, depending on merged /usr).
    rules = normalized_rules(host.file(RULES_FILE).content_string)
    for rule, needed in [("-w /etc/cron.daily/ -p wa -k crontab", "/etc/cron.daily"),
                         ("-w /etc/profile.d/ -p wa -k shell-profile", "/etc/profile.d"),
                         ("-w /etc/ld.so.conf.d/ -p wa -k ld-conf", "/etc/ld.so.conf.d"),
                         ("-w /etc/profile -p wa -k shell-profile", "/etc"),
                         ("-w /usr/lib/systemd/system/ -p wa -k systemd-unit", "/usr/lib/systemd/system"),
                         ("-w /lib/systemd/system/ -p wa -k systemd-unit", "/lib/systemd/system")]:
        assert (normalized([rule])[0] in rules) == host.file(needed).is_directory, rule
    assert host.file("/etc/cron.daily").is_directory and host.file("/etc/profile.d").is_directory
    assert any(host.file(unit_dir).is_directory
               for unit_dir in ("/usr/lib/systemd/system", "/lib/systemd/system"))
    assert normalized(["-w /etc/ssh/sshd_config.d/ -p wa -k sshd-config"])[0] not in rules


def test_watch_on_a_missing_directory_is_left_out(host):
    # prepare.yml removed /etc/ssh, as on a host without an OpenSSH server.
    assert not host.file("/etc/ssh").exists
    rules = normalized_rules(host.file(RULES_FILE).content_string)
    assert normalized(["-w /etc/ssh/sshd_config -p wa -k sshd-config"])[0] not in rules


def test_exclusions_come_first(host):
    rules = [rule for rule in normalized_rules(host.file(RULES_FILE).content_string) if rule.startswith(("-a", "-w"))]
    assert rules[: len(EXCLUSIONS)] == normalized(EXCLUSIONS)


def test_auditd_conf_managed_keys(host):
    conf = key_values(host.file("/etc/audit/auditd.conf").content_string)
    assert conf["num_logs"] == "4"
    assert conf["max_log_file"] == "50"
    assert conf["max_log_file_action"].upper() == "ROTATE"
    # synced to disk every 50 records (auditd writes every record at once whatever freq is)
    assert conf["freq"] == "50"
    ubuntu = host.system_info.distribution == "ubuntu"
    assert conf["log_group"] == ("adm" if ubuntu else "root")
    if audit_major_version(host) >= 3:
        assert conf["flush"].upper() == "INCREMENTAL_ASYNC"
        assert (conf["q_depth"], conf["overflow_action"].upper()) == ("8192", "SYSLOG")
    else:
        assert conf["flush"].upper() == "INCREMENTAL"
        dispatcher = key_values(host.file("/etc/audisp/audispd.conf").content_string)
        assert (dispatcher["q_depth"], dispatcher["overflow_action"].upper()) == ("8192", "SYSLOG")
    # Keys the role does not manage keep the distribution's values.
    assert conf["log_file"] == "/var/log/audit/audit.log"
    assert "log_format" in conf


def test_the_kernels_backlog_is_set_first(host):
    rules = normalized_rules(host.file(RULES_FILE).content_string)
    assert rules[:2] == normalized(CONTROL_RULES)


def test_the_loss_reporter_is_installed_and_enabled(host):
    program = host.file("/usr/local/sbin/whotouched-audit-health")
    assert program.is_file and program.mode == 0o755 and program.user == "root"
    assert host.run("python3 -m py_compile /usr/local/sbin/whotouched-audit-health").rc == 0
    unit = host.file("/etc/systemd/system/whotouched-audit-health.service").content_string
    assert "ExecStart=" in unit and "--interval 300" in unit
    assert host.service("whotouched-audit-health").is_enabled


def test_syslog_plugin_off_with_the_facility(host):
    # rsyslog_client reads auditd's log: the plugin would send every event a second time
    plugin = key_values(host.file(syslog_plugin_path(host)).content_string)
    assert plugin["active"] == "no"
    assert plugin["args"].split() == ["LOG_INFO", "LOG_LOCAL6"]
    if audit_major_version(host) < 3:
        # audispd's own syslog output: no program behind it.
        assert (plugin["path"], plugin["type"]) == ("builtin_syslog", "builtin")
    else:
        assert host.file(plugin["path"]).is_file


def test_history_timestamps_for_login_shells(host):
    result = host.run("env -i bash -lc 'printf %s \"$HISTTIMEFORMAT\"'")
    assert result.rc == 0
    assert result.stdout == "%F %T "


def test_auditd_enabled_at_boot(host):
    assert host.service("auditd").is_enabled
