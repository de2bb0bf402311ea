"""The rsyslog filter grammar: parsing, equality by meaning, errors, and the merge."""

from __future__ import annotations

import ctypes
import ctypes.util

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.actions import (
    forward_port,
    make_reliable,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.merge import (
    merge_filter_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.model import (
    FilterSyntaxError,
    PropertyFilter,
    SelectorFilter,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.parser import (
    parse_config,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.posix_regex import (
    regex_problem,
    scanned_regex_problem,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.requested import (
    filter_rule_from_spec,
    writable_filter_rule,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.serializer import (
    serialize_filter_rule,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.seed_filters import (
    seed_filters,
    seed_noise_filters,
)
from tests.support.corpus import corpus_file


def _rules(text):
    return [chunk.rule for chunk in parse_config(text) if chunk.rule is not None]


# ---------------------------------------------------------------- real configurations

@pytest.mark.parametrize("name, selectors", [
    ("debian12-rsyslog.conf", ["*.*;auth,authpriv.none", "auth,authpriv.*", "cron.*", "kern.*",
                               "mail.*", "user.*", "*.emerg"]),
    ("rhel-rsyslog.conf", ["*.info;mail.none;authpriv.none;cron.none", "authpriv.*", "mail.*",
                           "cron.*", "*.emerg", "uucp,news.crit", "local7.*"]),
])
def test_default_configs_parse_into_their_rules_and_round_trip(name, selectors):
    text = corpus_file(name).read_text(encoding="utf-8")
    chunks = parse_config(text)
    assert "".join(chunk.text for chunk in chunks) == text
    assert not [chunk.error for chunk in chunks if chunk.error]
    rules = _rules(text)
    assert [rule.filter.selector for rule in rules] == selectors
    # the commented-out forwarding block of the RHEL sample is a comment, not a rule
    assert all(action.kind in ("file", "other") for rule in rules for action in rule.actions)


def test_debian_default_rules_compare_with_their_modern_spelling():
    text = corpus_file("debian12-rsyslog.conf").read_text(encoding="utf-8")
    rules = _rules(text)
    assert filter_rule_from_spec(
        '*.*;auth,authpriv.none action(type="omfile" file="/var/log/syslog")') in rules
    assert filter_rule_from_spec("*.emerg :omusrmsg:*") in rules


def test_adding_to_a_default_config_keeps_every_byte_of_it():
    text = corpus_file("rhel-rsyslog.conf").read_text(encoding="utf-8")
    merged = merge_filter_rules(text, [filter_rule_from_spec(':msg, contains, "type=PATH" stop')])
    assert merged.text.startswith(text)
    assert merged.text[len(text):] == ':msg, contains, "type=PATH" stop\n'
    assert merge_filter_rules(text, _rules(text)).changed is False


# ------------------------------------------------------------------- the seed filters

# The article's lines as they were meant (repaired from the OCR'd text by their intent).
REPAIRED_SEED_LINES = [
    r':msg, ereregex, "(bin|sbin|sa)\/(ping|top|mpstat|iostat|iotop|vmstat|sar|sadc|sh)\"" ~',
    r':msg, ereregex, "(sbin|udev)\/(fstab_import|udisks-part-id|path_id|edd_id|scsi_id)\"" ~',
    r':msg, ereregex, "(bin|sbin)\/(tr|sort|wc|cut|awk|gawk|grep|fgrep|egrep|sed|head|tail'
    r'|tailf)\"" ~',
    r':msg, ereregex, "(bin|sbin)\/(sleep|ls|expr|nohup|date|cat|du|dirname|tar|gzip|df'
    r'|sg_persist|ip)\"" ~',
    r':msg, ereregex, "(bin|sbin)\/(basename|hostname|readlink|bc|touch|dmesg)\"" ~',
    r':msg, ereregex, "(bin|sbin)\/(consoletype|blkid|lsblk)\"" ~',
    r':msg, ereregex, "\"(ping|top|mpstat|iostat|iotop|vmstat|sar|sadc|sh)\"" ~',
    r':msg, ereregex, "\"(fstab_import|udisks-part-id|path_id|edd_id|scsi_id)\"" ~',
    r':msg, ereregex, "\"(tr|sort|wc|cut|awk|gawk|grep|fgrep|egrep|sed|head|tail|tailf)\"" ~',
    r':msg, ereregex, "\"(sleep|ls|expr|nohup|date|cat|du|dirname|tar|gzip|df|sg_persist'
    r'|ip)\"" ~',
    r':msg, ereregex, "\"(basename|hostname|readlink|bc|touch|dmesg)\"" ~',
    r':msg, ereregex, "\"(consoletype|blkid|lsblk)\"" ~',
    r':msg, contains, "type=PATH" ~',
    r':msg, ereregex, "(key=\"exec\"|type=EXECVE)" @@192.0.2.10:514',
]


def test_repaired_seed_lines_mean_the_seed_mappings():
    from_lines = [make_reliable(filter_rule_from_spec(line)) for line in REPAIRED_SEED_LINES]
    from_data = [make_reliable(filter_rule_from_spec(spec)) for spec in seed_filters("192.0.2.10")]
    assert from_lines == from_data


def test_seed_filters_serialize_with_stop_and_a_reliable_forward():
    text = merge_filter_rules("", [filter_rule_from_spec(spec) for spec in seed_filters("192.0.2.10")]).text
    assert "~" not in text
    assert text.count(" stop\n") == len(seed_noise_filters())
    assert 'module(load="omfwd")' not in text
    forward = text.split("\n", len(seed_noise_filters()))[-1]
    for setting in ('type="omfwd"', 'target="192.0.2.10"', 'protocol="tcp"',
                    'queue.type="LinkedList"', 'queue.filename="fwd_192_0_2_10_514_',
                    'queue.saveOnShutdown="on"', 'queue.maxDiskSpace="1g"',
                    'action.resumeRetryCount="-1"'):
        assert setting in forward
    assert _rules(text) == [make_reliable(filter_rule_from_spec(s)) for s in seed_filters("192.0.2.10")]


def test_seed_values_are_what_rsyslog_compares():
    first = filter_rule_from_spec(REPAIRED_SEED_LINES[0]).filter
    assert first == PropertyFilter(
        "msg", "ereregex", '(bin|sbin|sa)/(ping|top|mpstat|iostat|iotop|vmstat|sar|sadc|sh)"')


# ------------------------------------------------------------ equality by meaning

EQUAL = [
    (':msg, contains, "x" stop', ':msg,contains,"x"   stop'),
    (':msg, contains, "x" stop', ':msg, contains, "x" ~'),
    (':msg, contains, "x" stop', ':MSG, CONTAINS, "x" STOP'),
    (':msg, contains, "x" stop', 'if $msg contains "x" then stop'),
    (':msg, contains, "x" stop', "if ($msg contains 'x') then { stop }"),
    (':msg, !contains, "x" stop', 'if not ($msg contains "x") then stop'),
    (':msg, contains, "a\\"b" stop', "if $msg contains 'a\"b' then stop"),
    (':msg, contains, "x" \\\n  stop', ':msg, contains, "x" stop'),
    ('*.* /var/log/x', '*.* -/var/log/x'),
    ('*.* /var/log/x', '*.* action(type="omfile" file="/var/log/x")'),
    ('*.* @h', '*.* action(type="omfwd" target="h" port="514" protocol="udp")'),
    ('*.* @h', '*.* action(type="omfwd" target="H")'),
    ('*.* @@h:10514', '*.* action(type="omfwd" target="h" port="10514" protocol="tcp")'),
    ('*.* @@[::1]:514', '*.* action(type="omfwd" target="::1" protocol="tcp")'),
    ('*.* @h;RSYSLOG_TraditionalForwardFormat', '*.* @h'),
    ('$ActionQueueType LinkedList\n$ActionQueueFileName q1\n$ActionResumeRetryCount -1\n'
     '*.* @@h', '*.* action(type="omfwd" target="h" protocol="tcp" queue.type="linkedlist" '
     'queue.filename="q1" action.resumeRetryCount="-1")'),
    ('if $programname == "sshd" then stop', 'if $programname=="sshd" then {\n  stop\n}'),
    ('if $msg contains_i "X" then stop', {"operator": "contains_i", "value": "X",
                                          "action": "stop"}),
    (':msg, contains, "x" /var/log/x\n& stop', ':msg, contains, "x" { action(type="omfile" '
     'file="/var/log/x") stop }'),
    (':msg, ereregex, "a|b" stop', {"property": "msg", "operator": "ereregex", "value": "a|b",
                                    "action": "stop"}),
    (':msg, !isempty, "" stop', {"operator": "!isempty", "action": "stop"}),
    (':msg, !isempty, "" stop', {"operator": "isempty", "negate": True, "action": "stop"}),
]

UNEQUAL = [
    (':msg, contains, "x" stop', ':msg, contains, "X" stop'),
    (':msg, contains, "x" stop', ':msg, !contains, "x" stop'),
    (':msg, contains, "x" stop', ':msg, contains_i, "x" stop'.replace("_i", "")
     .replace("contains", "startswith")),
    (':msg, contains, "x" stop', 'if $msg contains_i "x" then stop'),
    (':msg, contains, "x" stop', ':programname, contains, "x" stop'),
    (':msg, contains, "x" stop', ':msg, contains, "x" /var/log/x'),
    ('*.* @h', '*.* @@h'),
    ('*.* @h', '*.* @h:10514'),
    ('*.* @h', '*.* @h;MyTemplate'),
    ('*.* @h', '*.* action(type="omfwd" target="h" queue.type="LinkedList")'),
    ('*.* @h', '*.* @(z9)h'),
    ('*.* /var/log/x', '*.* /var/log/y'),
    ('*.* /var/log/x', '*.info /var/log/x'),
    # RainerScript '==' also compares numbers: not the same as isequal
    (':msg, isequal, "1" stop', 'if $msg == "1" then stop'),
    ('if not $msg contains "x" then stop', ':msg, !contains, "x" stop'),
    ('$ActionQueueType LinkedList\n*.* @@h', '*.* @@h'),
]


@pytest.mark.parametrize("left, right", EQUAL)
def test_equal_in_meaning(left, right):
    assert filter_rule_from_spec(left) == filter_rule_from_spec(right)


@pytest.mark.parametrize("left, right", UNEQUAL)
def test_not_equal_in_meaning(left, right):
    assert filter_rule_from_spec(left) != filter_rule_from_spec(right)


# ------------------------------------------------------------------------ bad input

BAD = [
    ("", "non-empty string or a mapping"),
    (42, "non-empty string or a mapping"),
    (":msg, contains, x stop", "not a filter rule"),
    (':msg, endswith, "x" stop', "unknown compare operation 'endswith'"),
    (':msg, contains_i, "x" stop', "exist only in 'if' statements"),
    (':msg, contains, "x"', "filter without an action"),
    ('if $msg contains "x" stop', "'if' without 'then'"),
    ("module(load=\"imudp\")", "not a filter rule"),
    ('*.* action(type="omfile" file="/x"', "missing ')'"),
    (':msg, contains, "x" stop\n:msg, contains, "y" stop', "exactly one rule"),
    ({"operator": "endswith", "value": "x", "action": "stop"}, "operator 'endswith' is not"),
    ({"operator": "contains", "action": "stop"}, "needs a value"),
    ({"operator": "contains", "value": "x", "action": "drop"}, "action 'drop' is not"),
    ({"operator": "contains", "value": "x", "action": "forward"}, "needs a target"),
    ({"operator": "contains", "value": "x", "action": "forward", "target": "h",
      "protocol": "relp"}, "protocol 'relp' is not udp or tcp"),
    ({"operator": "contains", "value": "x", "action": "forward", "target": "h",
      "port": 70000}, "port 70000 is out of range"),
    ({"operator": "contains", "value": "x", "action": "file", "file": "rel/x"},
     "absolute 'file' path"),
    ({"operator": "contains", "value": "x", "action": "stop", "colour": "red"},
     "unknown key(s) colour"),
    ({"operator": "contains", "value": "x\\", "action": "stop"}, "end with a backslash"),
    ({"operator": "contains", "value": "a\nb", "action": "stop"}, "newline"),
    ({"property": "$!json", "operator": "contains", "value": "x", "action": "stop"},
     "not an rsyslog property name"),
]


@pytest.mark.parametrize("spec, message", BAD)
def test_bad_input_is_refused_with_a_clear_message(spec, message):
    with pytest.raises(FilterSyntaxError) as caught:
        filter_rule_from_spec(spec)
    assert message in str(caught.value)


def test_legacy_forward_options_cannot_be_made_reliable():
    with pytest.raises(FilterSyntaxError, match="no omfwd equivalent"):
        make_reliable(filter_rule_from_spec("*.* @(z9)h"))


# ------------------------------------------------- rules rsyslogd -N1 accepts but cannot honour

UNWRITABLE = [
    ("*.* @@h:notaport", "forward to h: port 'notaport' is not a number"),
    ("*.* @h:0", "forward to h: port 0 is out of range (1-65535)"),
    ("*.* @@h:65536", "port 65536 is out of range"),
    ("*.* @@[::1]:x1", "forward to ::1: port 'x1' is not a number"),
    ('if $msg contains "x" then @@h:51a4', "port '51a4' is not a number"),
    ("*.* @@h:514 # trailing", "cannot read the legacy forward '@@h:514 # trailing'"),
    ("*.* @@::1", "cannot read the legacy forward '@@::1'"),
    # what glibc's regcomp says, the function rsyslog compiles them with
    (':msg, regex, "[unclosed" stop',
     "filter :msg, regex, \"[unclosed\": the regex cannot be compiled: regcomp says: "
     "Unmatched [, [^, [:, [., or [="),
    (':msg, ereregex, "(unclosed" stop',
     "filter :msg, ereregex, \"(unclosed\": the ereregex cannot be compiled: regcomp says: "
     "Unmatched ( or \\("),
    (':msg, !ereregex, "a[[:alpha:]" stop', "regcomp says: Unmatched [, [^, [:, [., or [="),
    ({"operator": "regex", "value": "a\\)", "action": "stop"}, "regcomp says: Unmatched ( or \\("),
    ({"operator": "ereregex", "value": "(a|b", "action": "forward", "target": "h"},
     "regcomp says: Unmatched ( or \\("),
]


@pytest.mark.parametrize("spec, message", UNWRITABLE)
def test_rules_rsyslog_cannot_honour_are_refused_and_leave_the_text_alone(spec, message):
    existing = "# keep\n*.* /var/log/a\n"
    rule = filter_rule_from_spec(spec)
    with pytest.raises(FilterSyntaxError) as caught:
        writable_filter_rule(rule)
    assert message in str(caught.value)
    # merge_filter_rules raises before producing any text, for exclusive too: nothing to write
    for exclusive in (False, True):
        with pytest.raises(FilterSyntaxError):
            merge_filter_rules(existing, [filter_rule_from_spec(':msg, contains, "ok" stop'), rule],
                               exclusive=exclusive)


@pytest.mark.parametrize("spec", [spec for spec, _message in UNWRITABLE])
def test_a_rule_rsyslog_cannot_honour_can_still_be_removed(spec):
    rule = filter_rule_from_spec(spec)
    line = serialize_filter_rule(rule)
    merged = merge_filter_rules("# keep\n" + line + "*.* /var/log/a\n", [rule], "absent")
    assert merged.text == "# keep\n*.* /var/log/a\n"
    assert merged.removed == [line.strip()]


@pytest.mark.parametrize("value, port", [(514, 514), ("514", 514), (" 10514 ", 10514),
                                         (1, 1), (65535, 65535)])
def test_forward_ports_are_whole_numbers_from_1_to_65535(value, port):
    assert forward_port(value) == port


@pytest.mark.parametrize("value, message", [
    ("abc", "port 'abc' is not a number"), ("", "port '' is not a number"),
    ("-1", "port '-1' is not a number"), ("5.14", "port '5.14' is not a number"),
    (True, "port True is not a number"), (0, "port 0 is out of range (1-65535)"),
    (65536, "port 65536 is out of range (1-65535)"),
])
def test_bad_forward_ports_are_named(value, message):
    with pytest.raises(FilterSyntaxError) as caught:
        forward_port(value)
    assert str(caught.value) == message


def test_mapping_and_legacy_forwards_refuse_ports_alike():
    mapping = {"operator": "contains", "value": "x", "action": "forward", "target": "h",
               "port": "abc"}
    with pytest.raises(FilterSyntaxError, match="port 'abc' is not a number"):
        filter_rule_from_spec(mapping)
    with pytest.raises(FilterSyntaxError, match="port 'abc' is not a number"):
        writable_filter_rule(filter_rule_from_spec('*.* @@h:abc'))


def test_good_legacy_forwards_are_written_as_reliable_omfwd_actions():
    for spec, target, port, protocol in [("*.* @h", "h", "514", "udp"),
                                         ("*.* @@h:10514", "h", "10514", "tcp"),
                                         ("*.* @@[::1]:6514;RSYSLOG_ForwardFormat", "::1",
                                          "6514", "tcp")]:
        (action,) = writable_filter_rule(filter_rule_from_spec(spec)).actions
        params = dict(action.display)
        assert (action.legacy, params["target"], params["port"], params["protocol"]) == (
            False, target, port, protocol)
        assert params["queue.saveOnShutdown"] == "on" and params["action.resumeRetryCount"] == "-1"


# What every POSIX regcomp refuses (None: nothing certain to report), as the scanner used
# where no C library can be asked says it.
REGEX_VERDICTS = [
    ("[unclosed", True, "bracket expression '[' at offset 0 is not closed"),
    ("[unclosed", False, "bracket expression '[' at offset 0 is not closed"),
    ("(unclosed", True, "the group '(' at offset 0 is not closed"),
    ("(unclosed", False, None),                  # BRE: '(' is an ordinary character
    ("\\(unclosed", False, "the group '\\(' at offset 0 is not closed"),
    ("\\(unclosed", True, None),                # ERE: '\(' is a literal parenthesis
    ("a\\)", False, "'\\)' at offset 1 closes no group"),
    ("a)b", True, None),                         # glibc reads a lone ERE ')' as literal
    ("((a)|b", True, "the group '(' at offset 0 is not closed"),
    ("[]a]", True, None), ("[^]a]", True, None), ("[]", True, "offset 0 is not closed"),
    ("[a\\]b", True, None),                     # the backslash is a member, ']' closes
    ("(a[)]b)", True, None), ("[[:alpha:]]+", True, None), ("[[.a.][=e=]]", False, None),
    ("[[:alpha:]", True, "bracket expression '[' at offset 0 is not closed"),
    ("x[[:", True, "offset 1 is not closed"), ("a\\", True, "lone backslash"),
    ('(bin|sbin)\\/(sleep|ls)\\"', True, None),
]


@pytest.mark.parametrize("pattern, extended, verdict", REGEX_VERDICTS)
def test_regex_problems_without_a_c_library(pattern, extended, verdict):
    problem = scanned_regex_problem(pattern, extended)
    assert problem is None if verdict is None else verdict in problem


def _glibc_regcomp():
    libc_name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(libc_name) if libc_name else None
    if libc is None or not hasattr(libc, "gnu_get_libc_version"):
        pytest.skip("glibc's regcomp (the one rsyslog uses on Linux) is not available")

    def compiles(pattern, extended):
        regex_t = ctypes.create_string_buffer(1024)  # larger than any libc's regex_t
        if libc.regcomp(regex_t, pattern.encode("utf-8"), 1 if extended else 0) != 0:
            return False
        libc.regfree(regex_t)
        return True
    return compiles


@settings(max_examples=3000, deadline=None)
@given(st.text(st.sampled_from("[]()^\\:.=|*a-"), max_size=9), st.booleans())
def test_a_regex_refused_here_is_refused_by_regcomp(pattern, extended):
    """The scanner only reports what the real regcomp (as rsyslog calls it) refuses."""
    if scanned_regex_problem(pattern, extended) is not None:
        assert not _glibc_regcomp()(pattern, extended)


@pytest.mark.parametrize("pattern, extended, verdict", REGEX_VERDICTS)
def test_the_regex_table_agrees_with_regcomp(pattern, extended, verdict):
    assert _glibc_regcomp()(pattern, extended) is (verdict is None)


# --------------------------------------------------------------------------- merging

def test_unmodeled_constructs_survive_byte_for_byte():
    text = ('module(load="imfile")  # tail a file\n'
            'input(type="imfile" File="/var/log/app.log"\n      Tag="app")\n'
            'ruleset(name="remote")\n{\n  action(type="omfile" file="/var/log/r")\n}\n'
            'template(name="t" type="string" string="%msg%\\n")\n'
            '$FileOwner root\n'
            'if $msg contains "a" then {\n  set $.x = 1;\n  stop\n}\nelse {\n  stop\n}\n'
            '   # indented comment\n\n'
            ':msg, contains, "old" stop # trailing comment\n')
    chunks = parse_config(text)
    assert "".join(chunk.text for chunk in chunks) == text
    merged = merge_filter_rules(text, [filter_rule_from_spec(':msg, contains, "new" stop')])
    assert merged.text == text + ':msg, contains, "new" stop\n'
    removed = merge_filter_rules(text, [filter_rule_from_spec('if $msg contains "old" then stop')], "absent")
    assert removed.text == text.replace(':msg, contains, "old" stop # trailing comment\n', "")
    assert removed.removed == [':msg, contains, "old" stop # trailing comment']


def test_legacy_discard_is_left_alone_when_equal_and_removed_when_absent():
    text = ':msg, contains, "x" ~\n'
    assert merge_filter_rules(text, [filter_rule_from_spec(':msg, contains, "x" stop')]).changed is False
    assert merge_filter_rules(text, [filter_rule_from_spec(':msg, contains, "x" stop')], "absent").text == ""


def test_legacy_forward_is_replaced_in_place_by_the_reliable_form():
    text = "# forward\n*.* @@h:514\n# end\n"
    merged = merge_filter_rules(text, [filter_rule_from_spec("*.* @@h:514")])
    assert merged.removed == ["*.* @@h:514"]
    assert merged.text.startswith("# forward\n*.* action(type=\"omfwd\" target=\"h\"")
    assert merged.text.endswith("\n# end\n")
    assert merge_filter_rules(merged.text, [filter_rule_from_spec("*.* @@h:514")]).changed is False
    # absent takes away both the legacy and the reliable spelling
    assert merge_filter_rules(merged.text, [filter_rule_from_spec("*.* @@h:514")], "absent").text == \
        "# forward\n# end\n"


def test_legacy_action_directives_belong_to_their_rule():
    text = ("$ActionQueueType LinkedList # async\n$ActionQueueFileName q\n*.* @@h\n"
            "*.* /var/log/all\n")
    rules = _rules(text)
    assert dict(rules[0].actions[0].params)["queue.filename"] == "q"
    assert rules[1].actions[0].params == (("file", "/var/log/all"),)
    removed = merge_filter_rules(text, [], "present", exclusive=True)
    assert removed.text == ""


def test_new_rules_are_inserted_in_list_order():
    text = "# head\n:msg, contains, \"fwd\" @@h\n"
    stop = filter_rule_from_spec(':msg, contains, "noise" stop')
    forward = filter_rule_from_spec(':msg, contains, "fwd" @@h')
    merged = merge_filter_rules(text, [stop, forward])
    assert merged.text.index('"noise" stop') < merged.text.index('"fwd"')
    assert merged.text.startswith("# head\n")


def test_exclusive_keeps_what_is_not_a_rule():
    text = "# keep\nmodule(load=\"imudp\")\n*.* /var/log/a\n:msg, contains, \"b\" stop\n"
    merged = merge_filter_rules(text, [filter_rule_from_spec(':msg, contains, "b" stop')], exclusive=True)
    assert merged.text == "# keep\nmodule(load=\"imudp\")\n:msg, contains, \"b\" stop\n"
    assert merged.removed == ["*.* /var/log/a"]


def test_missing_final_newline_is_added_before_appending():
    merged = merge_filter_rules("*.* /var/log/a", [filter_rule_from_spec(':msg, contains, "b" stop')])
    assert merged.text == '*.* /var/log/a\n:msg, contains, "b" stop\n'


# --------------------------------------------------------------- hypothesis properties

_value = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)
_safe_value = _value.filter(lambda v: not v.endswith("\\"))
_rule_spec = st.one_of(
    st.builds(lambda p, op, neg, v: {"property": p, "operator": op, "negate": neg, "value": v,
                                     "action": "stop"},
              st.sampled_from(["msg", "programname", "hostname", "syslogtag"]),
              st.sampled_from(["contains", "isequal", "startswith", "regex", "ereregex",
                               "contains_i", "startswith_i"]),
              st.booleans(), _safe_value).filter(
        lambda spec: "regex" not in spec["operator"]
        or regex_problem(spec["value"], spec["operator"] == "ereregex") is None),
    st.builds(lambda v, host, port, proto: {"operator": "contains", "value": v,
                                            "action": "forward", "target": host, "port": port,
                                            "protocol": proto},
              _safe_value, st.sampled_from(["logs.example.com", "192.0.2.1", "::1"]),
              st.integers(1, 65535), st.sampled_from(["udp", "tcp"])),
    st.builds(lambda v, path: {"operator": "startswith", "value": v, "action": "file",
                               "file": path},
              _safe_value, st.sampled_from(["/var/log/a.log", "/var/log/audit noise.log"])),
)
_unmanaged_line = st.sampled_from([
    "# a comment\n", "\n", "   \n", "$FileOwner root\n", 'module(load="imudp")\n',
    'input(type="imudp" port="514")\n', "#:msg, contains, \"x\" stop\n",
    'template(name="t" type="string" string="%msg%")\n',
])
_existing_rule_line = st.sampled_from([
    "*.* /var/log/syslog\n", "auth,authpriv.*\t\t/var/log/auth.log\n",
    ':programname, isequal, "cron" ~\n', "*.emerg :omusrmsg:*\n",
    'if $syslogseverity <= 3 then /var/log/crit\n',
])
_file_text = st.lists(st.one_of(_unmanaged_line, _existing_rule_line), max_size=10).map("".join)


@settings(max_examples=150, deadline=None)
@given(_rule_spec)
def test_serialized_rules_parse_back_to_the_same_meaning(spec):
    rule = make_reliable(filter_rule_from_spec(spec))
    assert filter_rule_from_spec(serialize_filter_rule(rule)) == rule


@settings(max_examples=150, deadline=None)
@given(_file_text, st.lists(_rule_spec, min_size=1, max_size=5), st.booleans())
def test_merge_is_idempotent(text, specs, exclusive):
    rules = [filter_rule_from_spec(spec) for spec in specs]
    once = merge_filter_rules(text, rules, "present", exclusive)
    twice = merge_filter_rules(once.text, rules, "present", exclusive)
    assert twice.text == once.text and not twice.changed


@settings(max_examples=150, deadline=None)
@given(_file_text, st.lists(_rule_spec, min_size=1, max_size=5))
def test_absent_after_present_restores_the_file(text, specs):
    existing = _rules(text)
    rules = [filter_rule_from_spec(spec) for spec in specs]
    rules = [rule for rule in rules if make_reliable(rule) not in existing]
    present = merge_filter_rules(text, rules)
    assert merge_filter_rules(present.text, rules, "absent").text == text


@settings(max_examples=150, deadline=None)
@given(_file_text, st.lists(_rule_spec, max_size=5), st.sampled_from(["present", "absent"]),
       st.booleans())
def test_unmanaged_lines_survive_in_order(text, specs, state, exclusive):
    rules = [filter_rule_from_spec(spec) for spec in specs]
    merged = merge_filter_rules(text, rules, state, exclusive)
    unmanaged = [chunk.text for chunk in parse_config(text) if chunk.rule is None]
    survivors = [chunk.text for chunk in parse_config(merged.text) if chunk.rule is None]
    assert survivors == unmanaged


def test_selector_filters_keep_their_written_form():
    rule = filter_rule_from_spec("AUTH,authpriv.*  /var/log/auth.log")
    assert rule.filter == SelectorFilter("auth,authpriv.*")
    assert serialize_filter_rule(rule).startswith("AUTH,authpriv.* action(type=\"omfile\"")
