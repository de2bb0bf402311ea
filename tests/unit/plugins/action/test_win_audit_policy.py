"""The win_audit_policy action plugin's run(), with the Windows host replaced at the transport.

``_execute_module`` is where the plugin leaves the controller: every call it makes there is
an ``ansible.windows`` module on the host.  ``FakeWindowsHost`` answers those calls the way
a Windows host would (``auditpol /backup`` writes a CSV in the host's display language as
UTF-16, ``auditpol /set /subcategory:{GUID}`` changes the policy, slurp returns base64), so
the plugin's own code runs unmodified.  Nothing here ran on a real Windows host.
"""

from __future__ import annotations

import base64
import ntpath
import re
from types import SimpleNamespace

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.whotouched.server_audit.plugins.action.win_audit_policy import ActionModule
from ansible_collections.whotouched.server_audit.plugins.module_utils._windows import audit_policy as wap

CV = "{0CCE923F-69AE-11D9-BED3-505054503030}"
UAM = "{0CCE9235-69AE-11D9-BED3-505054503030}"
LOGON = "{0CCE9215-69AE-11D9-BED3-505054503030}"

WORDS = {
    "en": {0: "No Auditing", 1: "Success", 2: "Failure", 3: "Success and Failure"},
    "de": {0: "Keine Überwachung", 1: "Erfolg", 2: "Fehler", 3: "Erfolg und Fehler"},
}
GERMAN_NAMES = {CV: "Überprüfen der Anmeldeinformationen", UAM: "Benutzerkontenverwaltung",
                LOGON: "Anmelden"}


class FakeWindowsHost:
    """Answers the ansible.windows modules the plugin calls, as a Windows host would."""

    def __init__(self, language="en", settings=None, honour_set=True):
        self.language = language
        self.settings = {sub.guid: 0 for sub in wap.SUBCATEGORIES}
        self.settings.update(settings or {})
        self.honour_set = honour_set    # False: a domain GPO puts the old policy back
        self.files = {}
        self.calls = []
        self.auditpol_sets = []

    def name(self, guid):
        return GERMAN_NAMES.get(guid, wap.BY_GUID[guid].name) if self.language == "de" else wap.BY_GUID[guid].name

    def backup_csv(self):
        words = WORDS[self.language]
        lines = ["Machine Name,Policy Target,Subcategory,Subcategory GUID,Inclusion Setting,"
                 "Exclusion Setting,Setting Value"]
        for guid, value in self.settings.items():
            lines.append("SRV,System,%s,%s,%s,,%d" % (self.name(guid), guid, words[value], value))
        lines.append("SRV,,Option:CrashOnAuditFail,,%s,,0" % ("Deaktiviert" if self.language == "de" else "Disabled"))
        return "\r\n".join(lines) + "\r\n"

    def execute(self, module_name, module_args, check_mode):
        self.calls.append((module_name, dict(module_args), check_mode))
        if module_name == "ansible.windows.win_tempfile":
            assert not check_mode, "the policy must really be read in check mode"
            return {"changed": True, "path": r"C:\Users\ansible\AppData\Local\Temp\auditpol-x1"}
        if module_name == "ansible.windows.win_command":
            argv = module_args["argv"]
            assert argv[0] == "auditpol.exe"
            if argv[1] == "/backup":
                assert not check_mode
                path = argv[2][len("/file:"):]
                assert ntpath.basename(path) == "audit-policy.csv"
                self.files[path] = b"\xff\xfe" + self.backup_csv().encode("utf-16-le")
                return {"changed": True, "rc": 0, "stdout": "", "stderr": ""}
            if argv[1] == "/set":
                assert not check_mode, "nothing may be set in check mode"
                guids = argv[2][len("/subcategory:"):].split(",")
                assert all(re.fullmatch(r"\{[0-9A-F-]{36}\}", guid) for guid in guids), argv
                value = wap.setting_value(argv[3] == "/success:enable", argv[4] == "/failure:enable")
                self.auditpol_sets.append(argv)
                if self.honour_set:
                    for guid in guids:
                        self.settings[guid] = value
                return {"changed": True, "rc": 0, "stdout": "Der Befehl wurde erfolgreich ausgeführt.", "stderr": ""}
        if module_name == "ansible.windows.slurp":
            return {"content": base64.b64encode(self.files[module_args["src"]]).decode(), "encoding": "base64"}
        if module_name == "ansible.windows.win_file":
            assert module_args["state"] == "absent"
            for path in list(self.files):
                if path.startswith(module_args["path"]):
                    del self.files[path]
            return {"changed": True}
        raise AssertionError("unexpected module %s" % module_name)


def run_action(host, args, check_mode=False, diff=False):
    task = SimpleNamespace(args=args, check_mode=check_mode, diff=diff, async_val=0,
                           action="whotouched.server_audit.win_audit_policy")
    connection = SimpleNamespace(_shell=SimpleNamespace(tmpdir=r"C:\tmp"))
    action = ActionModule(task, connection, play_context=None, loader=None, templar=None)
    action._execute_module = lambda module_name, module_args, task_vars: host.execute(
        module_name, module_args, task.check_mode)
    result = action.run(task_vars={})
    assert task.check_mode == check_mode, "check mode must be restored after the reads"
    return result


SEED_ARGS = {"subcategories": [{"name": "Credential Validation", "success": True, "failure": True},
                               {"name": UAM.lower(), "success": True, "failure": True}]}


@pytest.mark.parametrize("language", ["en", "de"])
def test_changes_only_what_differs_then_is_idempotent(language):
    host = FakeWindowsHost(language, {CV: 1, UAM: 3, LOGON: 3})
    result = run_action(host, SEED_ARGS, diff=True)
    assert result["changed"] is True
    assert host.auditpol_sets == [["auditpol.exe", "/set", "/subcategory:" + CV,
                                   "/success:enable", "/failure:enable"]]
    assert result["commands"] == ["auditpol.exe /set /subcategory:%s /success:enable /failure:enable" % CV]
    assert result["before"][CV]["success"] is True and result["before"][CV]["failure"] is False
    assert result["after"][CV] == {"name": "Credential Validation", "localized_name": host.name(CV),
                                   "success": True, "failure": True}
    assert [change["guid"] for change in result["changes"]] == [CV]
    assert result["diff"]["before"] == ("%s User Account Management: success and failure\n"
                                        "%s Credential Validation: success\n" % (UAM, CV))
    assert "%s Credential Validation: success and failure\n" % CV in result["diff"]["after"]
    assert host.settings[LOGON] == 3, "an unlisted subcategory is never touched"
    assert host.files == {}, "the backup file is removed from the host"

    again = run_action(host, SEED_ARGS)
    assert again["changed"] is False and again["changes"] == [] and again["commands"] == []
    assert len(host.auditpol_sets) == 1


def test_check_mode_reads_for_real_and_sets_nothing():
    host = FakeWindowsHost("de", {CV: 0})
    result = run_action(host, SEED_ARGS, check_mode=True)
    assert result["changed"] is True
    assert host.auditpol_sets == [] and host.settings[CV] == 0
    assert result["after"][CV]["success"] is True      # what a real run would leave
    assert result["commands"] == ["auditpol.exe /set /subcategory:%s,%s /success:enable /failure:enable"
                                  % (UAM, CV)]
    reads = [call for call in host.calls if call[0] != "ansible.windows.win_file"]
    assert reads and all(call[2] is False for call in reads)


def test_include_mode_never_switches_off():
    host = FakeWindowsHost("en", {LOGON: 3, CV: 2})
    result = run_action(host, {"mode": "include", "subcategories": [
        {"name": "Logon", "failure": True}, {"name": "Credential Validation", "success": True}]})
    assert host.settings[LOGON] == 3 and host.settings[CV] == 3
    assert [change["guid"] for change in result["changes"]] == [CV]


def test_exact_mode_switches_off():
    host = FakeWindowsHost("en", {LOGON: 3})
    run_action(host, {"subcategories": [{"name": "Logon", "failure": True}]})
    assert host.settings[LOGON] == wap.FAILURE


@pytest.mark.parametrize("args, message", [
    ({"subcategories": [{"name": "Credential Validation", "success": True},
                        {"name": "Kerberos Ticket Things", "success": True}]},
     r"subcategories\[1\]: unknown audit subcategory 'Kerberos Ticket Things'"),
    ({"subcategories": [{"name": "{0CCE9299-69AE-11D9-BED3-505054503030}", "success": True}]},
     r"unknown audit subcategory GUID"),
    ({"subcategories": [{"name": "Logon", "success": "sometimes"}]}, r"success"),
    ({"subcategories": [{"name": "Logon"}], "mode": "merge"}, r"mode"),
])
def test_bad_input_fails_before_touching_the_host(args, message):
    host = FakeWindowsHost()
    with pytest.raises(AnsibleActionFail, match=message):
        run_action(host, args)
    assert host.calls == []


def test_a_policy_that_does_not_hold_fails_the_task():
    host = FakeWindowsHost("en", {CV: 0}, honour_set=False)
    with pytest.raises(AnsibleActionFail, match=r"read back still differs for \{0CCE9235.*\{0CCE923F.*Group Policy"):
        run_action(host, SEED_ARGS)


def test_a_failing_auditpol_fails_the_task_and_cleans_up():
    host = FakeWindowsHost()
    original = host.execute

    def refuse_backup(module_name, module_args, check_mode):
        if module_name == "ansible.windows.win_command" and module_args["argv"][1] == "/backup":
            host.calls.append((module_name, module_args, check_mode))
            return {"failed": True, "rc": 1314, "stdout": "",
                    "stderr": "Error 0x00000522 occurred: A required privilege is not held by the client."}
        return original(module_name, module_args, check_mode)

    host.execute = refuse_backup
    with pytest.raises(AnsibleActionFail, match="required privilege"):
        run_action(host, SEED_ARGS)
    assert host.calls[-1][0] == "ansible.windows.win_file"
