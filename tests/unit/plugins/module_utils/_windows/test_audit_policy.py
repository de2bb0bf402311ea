"""The Windows audit-policy table, auditpol parsers and planner, on recorded auditpol output.

Fixtures (``fixtures/auditpol``) follow Microsoft's documented formats: ``auditpol /backup``
([MS-GPAC] 2.2: header, one row per subcategory with its numeric Setting Value, then option
and global-SACL rows) and ``auditpol /get /r`` (six columns, a blank line after a header
that is itself localized).  The German backup is UTF-16 with a byte-order mark; the
Japanese report covers the two account categories.  Names and words differ by language,
GUIDs and numbers do not.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.whotouched.server_audit.plugins.module_utils._windows import audit_policy as wap

FIXTURES = Path(__file__).parent / "fixtures" / "auditpol"

CV = "{0CCE923F-69AE-11D9-BED3-505054503030}"    # Credential Validation
KAS = "{0CCE9242-69AE-11D9-BED3-505054503030}"   # Kerberos Authentication Service
UAM = "{0CCE9235-69AE-11D9-BED3-505054503030}"   # User Account Management
CAM = "{0CCE9236-69AE-11D9-BED3-505054503030}"   # Computer Account Management
SGM = "{0CCE9237-69AE-11D9-BED3-505054503030}"   # Security Group Management
LOGON = "{0CCE9215-69AE-11D9-BED3-505054503030}"
INTEGRITY = "{0CCE9212-69AE-11D9-BED3-505054503030}"

SEED = [
    "Credential Validation", "Kerberos Authentication Service",
    "Kerberos Service Ticket Operations", "Other Account Logon Events",
    "User Account Management", "Computer Account Management", "Security Group Management",
    "Distribution Group Management", "Application Group Management",
    "Other Account Management Events",
]


def windows_bytes(name):
    """A fixture as auditpol writes it: kept with LF line ends here, CRLF on Windows."""
    data = (FIXTURES / name).read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data
    return data.replace(b"\n", b"\r\n")


def load(name):
    return wap.parse_auditpol_csv(wap.decode_auditpol_output(windows_bytes(name)))


# --- the table ---------------------------------------------------------------------------

def test_table_has_every_documented_subcategory_once():
    assert len(wap.SUBCATEGORIES) == 59
    assert len(wap.BY_GUID) == 59
    assert len(wap.BY_NAME) == 59
    assert {sub.category for sub in wap.SUBCATEGORIES} == {
        "System", "Logon/Logoff", "Object Access", "Privilege Use", "Detailed Tracking",
        "Policy Change", "Account Management", "DS Access", "Account Logon"}
    for sub in wap.SUBCATEGORIES:
        assert re.fullmatch(r"\{[0-9A-F]{8}-69AE-11D9-BED3-505054503030\}", sub.guid)


@pytest.mark.parametrize("reference, guid", [
    ("Credential Validation", CV),
    ("credential validation", CV),
    ("  Credential   Validation ", CV),
    ("Audit Credential Validation", CV),
    (CV, CV),
    (CV.lower(), CV),
    (CV.strip("{}"), CV),
    ("Other Logon/Logoff Events", "{0CCE921C-69AE-11D9-BED3-505054503030}"),
    ("User / Device Claims", "{0CCE9247-69AE-11D9-BED3-505054503030}"),
])
def test_resolve_subcategory(reference, guid):
    assert wap.resolve_subcategory(reference).guid == guid


@pytest.mark.parametrize("reference, message", [
    ("Credential Validaton", r"unknown audit subcategory 'Credential Validaton'.*did you mean: Credential Validation"),
    ("Überprüfen der Anmeldeinformationen", r"English name"),
    ("{0CCE9299-69AE-11D9-BED3-505054503030}", r"unknown audit subcategory GUID \{0CCE9299"),
    ("", r"English name or GUID"),
    (None, r"English name or GUID"),
])
def test_resolve_subcategory_refuses_clearly(reference, message):
    with pytest.raises(wap.AuditPolicyError, match=message):
        wap.resolve_subcategory(reference)


@given(st.sampled_from(wap.SUBCATEGORIES), st.booleans())
def test_any_spelling_of_a_guid_resolves(sub, braces):
    text = sub.guid.lower() if braces else sub.guid.strip("{}").lower()
    assert wap.resolve_subcategory(text) is sub


# --- parsing -----------------------------------------------------------------------------

def test_english_backup_parses_every_subcategory_and_skips_options_and_sacls():
    policy = load("backup_en.csv")
    assert set(policy) == set(wap.BY_GUID)
    assert policy[CV] == {"guid": CV, "name": "Credential Validation",
                          "english_name": "Credential Validation", "setting": 1}
    assert policy[INTEGRITY]["setting"] == wap.SUCCESS_AND_FAILURE
    assert policy[CAM]["setting"] == wap.NO_AUDITING


def test_localized_outputs_give_the_same_policy_as_english():
    english = load("backup_en.csv")
    german = load("backup_de.csv")
    japanese = load("report_ja_account_categories.csv")
    report = load("report_en.csv")

    def settings(policy):
        return {guid: entry["setting"] for guid, entry in policy.items()}

    assert settings(german) == settings(english) == settings(report)
    assert settings(japanese) == {guid: english[guid]["setting"] for guid in japanese}
    assert len(japanese) == 10
    # the names really are localized, and are kept for the result
    assert german[CV]["name"] == "Überprüfen der Anmeldeinformationen"
    assert japanese[CV]["name"] == "資格情報の確認"
    assert german[CV]["english_name"] == japanese[CV]["english_name"] == "Credential Validation"


@pytest.mark.parametrize("encoding, bom", [
    ("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"),
    ("utf-16-be", b"\xfe\xff"), ("utf-16-le", b""),
])
def test_decoding_any_encoding_auditpol_may_write(encoding, bom):
    text = (FIXTURES / "backup_de.csv").read_bytes().decode("utf-16")
    data = bom + text.encode(encoding)
    assert wap.decode_auditpol_output(data) == text


@pytest.mark.parametrize("text, setting", [
    # [MS-GPAC]: 0 "not configured" and 4 "none" both audit nothing
    ("M,System,Logon,{0CCE9215-69AE-11D9-BED3-505054503030},No Auditing,,0\r\n", 0),
    ("M,System,Logon,{0CCE9215-69AE-11D9-BED3-505054503030},No Auditing,,4\r\n", 0),
    ("M,System,Logon,{0CCE9215-69AE-11D9-BED3-505054503030},Success,,1\r\n", 1),
    ("M,System,Logon,{0cce9215-69ae-11d9-bed3-505054503030},Failure,,2\r\n", 2),
    # the number wins over the (localized, possibly unknown) words
    ("M,System,Logon,{0CCE9215-69AE-11D9-BED3-505054503030},Réussite et échec,,3\r\n", 3),
    # /get /r has no number: words are read through the table
    ("M,System,Anmelden,{0CCE9215-69AE-11D9-BED3-505054503030},Erfolg und Fehler,\r\n", 3),
])
def test_setting_of_one_row(text, setting):
    assert wap.parse_auditpol_csv(text)[LOGON]["setting"] == setting


def test_per_user_rows_do_not_override_the_system_policy():
    text = ("Machine Name,Policy Target,Subcategory,Subcategory GUID,Inclusion Setting,Exclusion Setting,Setting Value\r\n"
            "M,System,Logon,{0CCE9215-69AE-11D9-BED3-505054503030},Success,,1\r\n"
            "M,S-1-5-21-1-2-3-1001,Logon,{0CCE9215-69AE-11D9-BED3-505054503030},Failure,Success,6\r\n"
            "M,CONTOSO\\alice,Logon,{0CCE9215-69AE-11D9-BED3-505054503030},Failure,,4\r\n")
    assert wap.parse_auditpol_csv(text)[LOGON]["setting"] == 1


def test_unknown_guid_from_a_newer_windows_is_kept_without_english_name():
    text = "M,System,Neu,{0CCE9299-69AE-11D9-BED3-505054503030},Erfolg,,1\r\n"
    entry = wap.parse_auditpol_csv(text)["{0CCE9299-69AE-11D9-BED3-505054503030}"]
    assert entry["english_name"] is None and entry["setting"] == 1


@pytest.mark.parametrize("text, message", [
    ("M,System,Logon,{0CCE9215-69AE-11D9-BED3-505054503030},Succès,\r\n", r"line 1.*language.*auditpol /backup"),
    ("M,System,Logon,{0CCE9215-69AE-11D9-BED3-505054503030},Success,,x\r\n", r"line 1: setting value 'x'"),
    ("M,System,Logon,{0CCE9215-69AE-11D9-BED3-505054503030},Success,,9\r\n", r"setting value 9"),
    ("Machine Name,Policy Target,Subcategory,Subcategory GUID,Inclusion Setting,Exclusion Setting\r\n", r"no subcategory"),
    ("Error 0x00000522 occurred:\r\nA required privilege is not held by the client.\r\n", r"no subcategory"),
])
def test_unusable_output_is_refused(text, message):
    with pytest.raises(wap.AuditPolicyError, match=message):
        wap.parse_auditpol_csv(text)


# --- planning ----------------------------------------------------------------------------

def entries(names, success=True, failure=True):
    return [{"name": name, "success": success, "failure": failure} for name in names]


@pytest.mark.parametrize("fixture", ["backup_en.csv", "backup_de.csv", "report_ja_account_categories.csv"])
def test_seed_plan_is_the_same_in_every_language(fixture):
    current = load(fixture)
    changes = wap.plan_changes(current, wap.resolve_desired(entries(SEED)), "exact")
    # CV, UAM, SGM audit success already; all ten end at success and failure
    assert [(c.name, c.before, c.after) for c in changes] == [
        ("User Account Management", 1, 3),
        ("Computer Account Management", 0, 3),
        ("Security Group Management", 1, 3),
        ("Distribution Group Management", 0, 3),
        ("Application Group Management", 0, 3),
        ("Other Account Management Events", 0, 3),
        ("Credential Validation", 1, 3),
        ("Kerberos Service Ticket Operations", 0, 3),
        ("Other Account Logon Events", 0, 3),
        ("Kerberos Authentication Service", 0, 3),
    ]
    assert wap.auditpol_set_commands(changes) == [[
        "auditpol.exe", "/set",
        "/subcategory:" + ",".join(sorted(c.guid for c in changes)),
        "/success:enable", "/failure:enable",
    ]]


@pytest.mark.parametrize("current, wanted, mode, after", [
    # (current setting, (success, failure), mode, expected setting or None for no change)
    (3, (True, False), "exact", 1),
    (3, (True, False), "include", None),
    (1, (False, True), "exact", 2),
    (1, (False, True), "include", 3),
    (0, (False, False), "exact", None),
    (2, (False, False), "exact", 0),
    (2, (False, False), "include", None),
    (3, (True, True), "exact", None),
    (3, (True, True), "include", None),
])
def test_plan_exact_and_include(current, wanted, mode, after):
    policy = {LOGON: {"guid": LOGON, "name": "Anmelden", "english_name": "Logon", "setting": current}}
    desired = wap.resolve_desired([{"name": "Logon", "success": wanted[0], "failure": wanted[1]}])
    changes = wap.plan_changes(policy, desired, mode)
    if after is None:
        assert changes == []
    else:
        assert changes == [wap.SettingChange(LOGON, "Logon", current, after)]


@given(st.dictionaries(st.sampled_from(sorted(wap.BY_GUID)), st.integers(0, 3), min_size=1),
       st.dictionaries(st.sampled_from(sorted(wap.BY_GUID)), st.integers(0, 3), min_size=1),
       st.sampled_from(["exact", "include"]))
def test_applying_the_plan_reaches_the_goal_and_a_second_plan_is_empty(current_settings, desired, mode):
    current = {guid: {"guid": guid, "name": guid, "english_name": None, "setting": value}
               for guid, value in current_settings.items()}
    for guid in desired:
        current.setdefault(guid, {"guid": guid, "name": guid, "english_name": None, "setting": 0})
    changes = wap.plan_changes(current, desired, mode)
    touched = {change.guid for change in changes}
    assert touched <= set(desired)          # never touches an unlisted subcategory
    for change in changes:
        current[change.guid]["setting"] = change.after
        if mode == "include":
            assert change.after & change.before == change.before   # include never removes
    assert wap.unmet_settings(current, desired, mode) == []
    assert wap.plan_changes(current, desired, mode) == []
    # the commands express exactly the planned settings
    for argv in wap.auditpol_set_commands(changes):
        guids = argv[2].split(":", 1)[1].split(",")
        success = argv[3] == "/success:enable"
        failure = argv[4] == "/failure:enable"
        for guid in guids:
            assert current[guid]["setting"] == wap.setting_value(success, failure)


def test_bad_input_lists_every_problem_and_plans_nothing():
    with pytest.raises(wap.AuditPolicyError) as error:
        wap.resolve_desired([
            {"name": "Credential Validation", "success": True},
            {"name": "Kerberos Ticket Stuff", "success": True},
            {"name": "{0CCE9299-69AE-11D9-BED3-505054503030}", "failure": True},
            {"name": CV.lower(), "failure": True},
        ])
    message = str(error.value)
    assert "subcategories[1]: unknown audit subcategory 'Kerberos Ticket Stuff'" in message
    assert "subcategories[2]: unknown audit subcategory GUID {0CCE9299" in message
    assert "subcategories[3]: Credential Validation" in message and "more than once" in message


def test_subcategory_the_host_does_not_report_is_refused():
    japanese = load("report_ja_account_categories.csv")   # only the account categories
    with pytest.raises(wap.AuditPolicyError, match=r"does not report.*Logon \(\{0CCE9215"):
        wap.plan_changes(japanese, wap.resolve_desired(entries(["Logon", "Credential Validation"])), "exact")


def test_unknown_mode_is_refused():
    with pytest.raises(wap.AuditPolicyError, match="mode"):
        wap.plan_changes(load("backup_en.csv"), {}, "merge")


def test_result_view_and_diff_text_use_english_names():
    policy = load("backup_de.csv")
    view = wap.policy_view(policy, [CV, KAS])
    assert view == {
        CV: {"name": "Credential Validation", "localized_name": "Überprüfen der Anmeldeinformationen",
             "success": True, "failure": False},
        KAS: {"name": "Kerberos Authentication Service", "localized_name": "Kerberos-Authentifizierungsdienst",
              "success": False, "failure": False},
    }
    assert wap.policy_text(view) == (
        "%s Credential Validation: success\n%s Kerberos Authentication Service: no auditing\n" % (CV, KAS))
