"""rsyslog_filter given careless and hostile input (R1-R5): what rsyslogd -N1 lets through but
rsyslog cannot honour is refused, naming the filter, with the file byte for byte as it was.

Validation by rsyslogd is off here; tests/system/test_rsyslog_filter.py runs the real one.
"""

from __future__ import annotations

import re

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.posix_regex import (
    regcomp_problem,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.validate import (
    validate_drop_in,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils.managed_file import (
    FileValidationError,
)
from ansible_collections.whotouched.server_audit.plugins.modules import rsyslog_filter
from tests.support.module_main import run_main

OWNED = b"# owned by someone else\r\n:msg, contains, \"keep\" stop\n"
FORWARD = {"property": "msg", "operator": "contains", "value": "type=EXECVE",
           "action": "forward", "target": "logs.example.org"}


def _run(path, check=False, **args):
    return run_main(rsyslog_filter, dict({"path": str(path), "validate": False}, **args),
                    check=check, diff=True)


def _refused(tmp_path, filters, **args):
    drop_in = tmp_path / "10-audit.conf"
    drop_in.write_bytes(OWNED)
    status, result = _run(drop_in, filters=filters, **args)
    assert (status, result["failed"], result["changed"]) == (1, True, False), result
    assert drop_in.read_bytes() == OWNED
    return result["msg"]


def _written(tmp_path, filters, **args):
    drop_in = tmp_path / "10-audit.conf"
    status, result = _run(drop_in, filters=filters, **args)
    assert status == 0, result.get("msg")
    return result, drop_in.read_text() if drop_in.exists() else ""


# ---------------------------------------------------------------- R1: port 0

def test_port_0_is_refused_and_a_missing_port_is_514(tmp_path):
    assert _refused(tmp_path, [dict(FORWARD, port=0)]) == \
        "filters[1]: port 0 is out of range (1-65535)"
    _result, text = _written(tmp_path, [FORWARD])
    assert 'target="logs.example.org" port="514" protocol="tcp"' in text


# ---------------------------------------------------------------- R2: regcomp refuses it

@pytest.mark.parametrize("pattern, operator, says", [
    ("a{2,1}", "ereregex", "Invalid content of \\{\\}"),
    ("[[:nosuch:]]", "ereregex", "Invalid character class name"),
    ("(?=abc)", "ereregex", "Invalid preceding regular expression"),
    ("*abc", "ereregex", "Invalid preceding regular expression"),
    ("a\\{2,1\\}", "regex", "Invalid content of \\{\\}"),
])
def test_a_regex_the_c_library_cannot_compile_is_refused(tmp_path, pattern, operator, says):
    message = _refused(tmp_path, [{"operator": operator, "value": pattern, "action": "stop"}])
    assert message.startswith("filters[1]: filter :msg, %s, " % operator)
    assert message.endswith("cannot be compiled: regcomp says: %s" % says)


def test_a_regex_in_re_match_is_compiled_too(tmp_path):
    message = _refused(tmp_path, ['if re_match($msg, "a{2,1}") and $programname == "x" then stop'])
    assert message.endswith('the pattern "a{2,1}" of re_match() cannot be compiled: regcomp says: '
                            "Invalid content of \\{\\}")


def test_what_regcomp_accepts_is_written(tmp_path):
    assert regcomp_problem("*abc", False) is None  # a BRE's leading * is a literal
    _result, text = _written(tmp_path, [{"operator": "regex", "value": "*abc", "action": "stop"},
                                        {"operator": "ereregex", "value": "a{1,2}(b|c)$",
                                         "action": "stop"}])
    assert text == ':msg, regex, "*abc" stop\n:msg, ereregex, "a{1,2}(b|c)$" stop\n'


# ---------------------------------------------------------------- R3: queue file names

def _queue_names(text):
    return re.findall(r'queue\.filename="([^"]+)"', text)


def test_one_filter_forwarded_over_tcp_and_udp_spools_to_two_queues(tmp_path):
    _result, text = _written(tmp_path, [dict(FORWARD, protocol="tcp"),
                                        dict(FORWARD, protocol="udp")])
    names = _queue_names(text)
    assert len(names) == 2 and len(set(names)) == 2


@pytest.mark.parametrize("targets", [["[2001:db8::1]", "2001:db8::1", "2001:DB8:0::1"],
                                     ["H.example.org", "h.example.org"]])
def test_spellings_of_one_target_are_one_forward(tmp_path, targets):
    result, text = _written(tmp_path, [dict(FORWARD, target=target) for target in targets])
    assert len(result["added"]) == 1 and text.count("omfwd") == 1
    assert 'target="%s"' % targets[-1].lower().replace(":0::", "::") in text


def test_targets_whose_readable_names_agree_get_queues_of_their_own(tmp_path):
    _result, text = _written(tmp_path, [dict(FORWARD, target="a-b.example.org"),
                                        dict(FORWARD, target="a.b.example.org")])
    names = _queue_names(text)
    assert names[0].startswith("fwd_a_b_example_org_514_") and len(set(names)) == 2


def test_a_tcp_forward_to_a_host_name_keeps_the_queue_name_of_earlier_releases(tmp_path):
    _result, text = _written(tmp_path, [FORWARD])
    assert _queue_names(text) == ["fwd_logs_example_org_514_664177e7"]


def test_one_destination_given_twice_with_other_settings_is_refused(tmp_path):
    message = _refused(tmp_path, [FORWARD, dict(FORWARD, queue_max_disk_space="2g")])
    assert message.startswith("two filters send the same messages to the same destination "
                              "with other settings; give it once")


# ---------------------------------------------------------------- R4: re_match is ereregex

@pytest.mark.parametrize("written, asked", [
    (':msg, ereregex, "X" ~', 'if re_match($msg, "X") then stop'),
    ('if re_match($msg, "X") then stop', ':msg, ereregex, "X" stop'),
    ('if not re_match($msg, "a\\\\.b") then stop', ':msg, !ereregex, "a\\\\.b" stop'),
])
def test_re_match_and_the_ereregex_property_filter_are_one_rule(tmp_path, written, asked):
    drop_in = tmp_path / "10-audit.conf"
    drop_in.write_text(written + "\n")
    status, result = _run(drop_in, filters=[asked])
    assert (status, result["changed"]) == (0, False)
    status, result = _run(drop_in, filters=[asked], state="absent")
    assert (status, result["removed"]) == (0, [written])
    assert drop_in.read_text() == ""


# ---------------------------------------------------------------- R5: careless values

@pytest.mark.parametrize("spec, says", [
    (':msg, contains, "" stop', 'filter :msg, contains, "": its value is empty, so it matches '
                                "every message (an unset variable?); the selector *.* says every "
                                "message"),
    ({"operator": "startswith_i", "value": "", "action": "stop"}, "matches every message"),
    ({"operator": "!contains", "value": "", "action": "stop"}, "matches no message"),
    (':msg, ereregex, "" stop', "matches every message"),
    (dict(FORWARD, target="bad_host!"), "filters[1]: target 'bad_host!' is neither an IP "
                                        "address nor a host name (letters, digits and hyphens, "
                                        "in labels separated by dots)"),
    ('*.* action(type="omfwd" target="bad host" port="514")', "target 'bad host' is neither"),
    (dict(FORWARD, target="-leading.example"), "is neither an IP address nor a host name"),
    ({"operator": "contains", "value": "a\x00b", "action": "stop"}, "holds a NUL byte"),
])
def test_a_careless_value_is_refused_naming_it(tmp_path, spec, says):
    assert says in _refused(tmp_path, [spec])


def test_empty_values_can_still_be_removed(tmp_path):
    drop_in = tmp_path / "10-audit.conf"
    drop_in.write_text(':msg, contains, "" stop\n')
    status, result = _run(drop_in, filters=[':msg, contains, "" stop'], state="absent")
    assert (status, result["changed"], drop_in.read_text()) == (0, True, "")


# ---------------------------------------------------------------- one definition of a line

@pytest.mark.parametrize("separator", ["\u2028", "\x0c", "\x85", "\x1e", "\r"])
def test_a_comment_holding_a_line_separator_stays_one_comment(tmp_path, separator):
    """Already so before (rsyslog_filter splits lines at \\n only): kept as a regression test."""
    drop_in = tmp_path / "10-audit.conf"
    original = "# off: %s:msg, contains, \"x\" stop\n" % separator
    drop_in.write_bytes(original.encode("utf-8"))
    status, result = _run(drop_in, filters=[':msg, contains, "y" stop'])
    assert status == 0 and result["added"] == [':msg, contains, "y" stop']
    assert drop_in.read_bytes().decode("utf-8") == original + ':msg, contains, "y" stop\n'


# ---------------------------------------------------------------- a link to a file of secrets

SECRET = "root:$6$Secret.Salt$HashHashHash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"


@pytest.mark.parametrize("check, state", [(True, "present"), (False, "present"),
                                          (False, "absent")])
def test_a_link_to_a_file_that_is_no_configuration_is_refused_without_showing_it(
        tmp_path, check, state):
    """Found with audit_rules' U4: followed and written with validate=false; with validation,
    rsyslogd's refusal quoted the hash (``invalid ... command 'Secret$Hash...'``)."""
    secret = tmp_path / "shadow"
    secret.write_text(SECRET)
    drop_in = tmp_path / "10-audit.conf"
    drop_in.symlink_to(secret)
    status, result = _run(drop_in, check=check, state=state,
                          filters=[':msg, contains, "x" stop'])
    assert (status, result["failed"], result["changed"]) == (1, True, False)
    assert result["msg"] == ("%s was not changed: it is not an rsyslog configuration file: none "
                             "of its statements is a filter rule, and line 1 does not begin one "
                             "rsyslog reads" % drop_in)
    assert "Secret" not in str(result) and secret.read_text() == SECRET


@pytest.mark.parametrize("text, line", [
    ("Port 22\nPermitRootLogin no\n", 1),
    ("machine example.com login alice password Secret-1\n", 1),
    ("# netrc\ndefault login anonymous password Secret-2\n", 2),
    ("[client]\npassword = Secret-3\n", 1),
])
def test_a_configuration_of_another_program_is_no_rsyslog_configuration(tmp_path, text, line):
    other = tmp_path / "10-link.conf"
    other.write_text(text)
    status, result = _run(other, check=False, filters=[':msg, contains, "x" stop'],
                          validate=False)
    assert (status, result["failed"], result["changed"]) == (1, True, False)
    assert result["msg"].endswith("line %d does not begin one rsyslog reads" % line)
    assert "Secret" not in str(result) and other.read_text() == text


def test_a_main_config_that_is_no_configuration_is_refused_before_rsyslogd_quotes_it(tmp_path):
    secret = tmp_path / "shadow"
    secret.write_text(SECRET)

    def rsyslogd(argv):
        raise AssertionError("rsyslogd was asked, and would quote the file: %s" % argv)

    with pytest.raises(FileValidationError) as refused:
        validate_drop_in(rsyslogd, "/usr/sbin/rsyslogd", str(secret),
                         str(tmp_path / "10-audit.conf"), str(tmp_path / "candidate"))
    assert str(refused.value) == ("main_config %s: it is not an rsyslog configuration file: none "
                                  "of its statements is a filter rule, and line 1 does not begin "
                                  "one rsyslog reads" % secret)
