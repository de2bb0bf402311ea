"""Selecting audit events and scoping filters to them: the expressions rsyslog reads."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import assume, given
from hypothesis import strategies as st

from ansible_collections.whotouched.server_audit.plugins.filter.evtsys import evtsys_cfg
from ansible_collections.whotouched.server_audit.plugins.filter.rsyslog_audit import (
    FilterModule,
    facility_name,
    rsyslog_audit_selector,
    rsyslog_filter_problems,
    rsyslog_scoped_filters,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.merge import (
    merge_filter_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.model import (
    ExpressionFilter,
    FilterSyntaxError,
    PropertyFilter,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.parser import (
    parse_config,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.rainerscript import (
    script_condition,
    script_string,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.requested import (
    filter_rule_from_spec,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.seed_filters import (
    seed_noise_filters,
)

PROGRAMS = ["audisp-syslog", "audispd"]
BY_PROGRAM = '$programname == "audisp-syslog" or $programname == "audispd"'
BY_FACILITY = '$syslogfacility-text == "local6"'


@pytest.mark.parametrize("match, expected", [
    ("program", BY_PROGRAM),
    ("facility", BY_FACILITY),
    ("both", "(%s) and %s" % (BY_PROGRAM, BY_FACILITY)),
    ("either", "(%s) or %s" % (BY_PROGRAM, BY_FACILITY)),
])
def test_audit_selector_by_program_and_or_facility(match, expected):
    assert rsyslog_audit_selector(PROGRAMS, "LOG_LOCAL6", match) == expected


@pytest.mark.parametrize("given_name, expected", [
    ("LOG_LOCAL6", "local6"), ("local6", "local6"), ("log_authpriv", "authpriv"), (" Daemon ", "daemon"),
])
def test_facility_names_as_auditd_or_rsyslog_write_them(given_name, expected):
    assert facility_name(given_name) == expected


@pytest.mark.parametrize("programs, facility, match, error", [
    (PROGRAMS, "LOG_LOCAL9", "both", "not a syslog facility"),
    (PROGRAMS, "local6", "sometimes", "not one of"),
    ([], "local6", "program", "at least one program"),
    ([], "local6", "both", "at least one program"),
    ("audisp-syslog", "local6", "both", r"a list of program names, not the string 'audisp-syslog'"),
])
def test_audit_selector_refuses_what_it_cannot_express(programs, facility, match, error):
    with pytest.raises(AnsibleFilterError, match=error):
        rsyslog_audit_selector(programs, facility, match)


def test_facility_alone_needs_no_program():
    assert rsyslog_audit_selector([], "local5", "facility") == '$syslogfacility-text == "local5"'


def test_program_names_are_quoted_as_rsyslog_strings():
    selector = rsyslog_audit_selector(['odd"name$'], match="program")
    assert selector == '$programname == "odd\\"name\\$"'


@pytest.mark.parametrize("spec, condition", [
    ({"operator": "contains", "value": "type=PATH"}, '$msg contains "type=PATH"'),
    ({"operator": "ereregex", "value": '(bin)/(ls)"'}, 're_match($msg, "(bin)/(ls)\\"")'),
    ({"operator": "isequal", "property": "programname", "value": "x"}, '$programname == "x"'),
    ({"operator": "startswith_i", "value": "a"}, '$msg startswith_i "a"'),
    ({"operator": "isempty"}, '$msg == ""'),
    ({"operator": "!contains", "value": "x"}, 'not ($msg contains "x")'),
])
def test_property_filters_as_rainerscript_conditions(spec, condition):
    assert script_condition(filter_rule_from_spec(dict(spec, action="stop")).filter) == condition


def test_selector_and_expression_filters_as_conditions():
    assert script_condition(filter_rule_from_spec("mail.* stop").filter) == 'prifilt("mail.*")'
    expression = filter_rule_from_spec('if $msg contains "a" or $msg contains "b" then stop').filter
    assert script_condition(expression) == '($msg contains "a" or $msg contains "b")'


def test_basic_regex_has_no_rainerscript_form():
    with pytest.raises(FilterSyntaxError, match="ereregex"):
        script_condition(PropertyFilter("msg", "regex", "a.b"))
    with pytest.raises(AnsibleFilterError, match="filter 1"):
        rsyslog_scoped_filters([{"operator": "regex", "value": "x", "action": "stop"}], BY_PROGRAM)


def test_scoped_seed_filters_keep_order_and_meaning():
    seed = seed_noise_filters()
    scoped = rsyslog_scoped_filters(seed, BY_PROGRAM)
    assert len(scoped) == len(seed)
    for spec, text in zip(seed, scoped):
        rule = filter_rule_from_spec(text)
        assert isinstance(rule.filter, ExpressionFilter)
        assert [action.kind for action in rule.actions] == ["stop"]
        assert rule.filter.raw.startswith("(%s) and " % BY_PROGRAM)
        assert script_condition(filter_rule_from_spec(spec).filter) in text


def test_scoped_filters_round_trip_through_a_file_and_merge_idempotently():
    scoped = [filter_rule_from_spec(text) for text in
              rsyslog_scoped_filters(seed_noise_filters(), BY_PROGRAM)]
    first = merge_filter_rules("", scoped, exclusive=True)
    assert [chunk.rule for chunk in parse_config(first.text) if chunk.rule] == scoped
    again = merge_filter_rules(first.text, scoped, exclusive=True)
    assert again.text == first.text and not again.changed


def test_strings_pass_unchanged_and_no_scope_changes_nothing():
    filters = [':msg, contains, "x" stop', {"operator": "contains", "value": "y", "action": "stop"}]
    assert rsyslog_scoped_filters(filters, "")[0] is filters[0]
    assert rsyslog_scoped_filters(filters, "") == filters
    assert rsyslog_scoped_filters(filters, BY_PROGRAM)[0] == filters[0]


def test_scoped_forward_keeps_its_reliable_queue():
    (text,) = rsyslog_scoped_filters([{"operator": "contains", "value": "key=\"exec\"", "action": "forward",
                                       "target": "logs.example.com"}], BY_PROGRAM)
    (action,) = filter_rule_from_spec(text).actions
    params = dict(action.params)
    assert action.kind == "forward"
    assert params["queue.saveonshutdown"] == "on" and params["action.resumeretrycount"] == "-1"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=40))
def test_any_value_survives_quoting_into_a_scoped_rule(value):
    assume(not value.endswith("\\"))  # refused by rsyslog_filter for property filters
    (text,) = rsyslog_scoped_filters([{"operator": "contains", "value": value, "action": "stop"}],
                                     BY_PROGRAM)
    rule = filter_rule_from_spec(text)
    assert rule.filter.raw == '(%s) and $msg contains %s' % (BY_PROGRAM, script_string(value))
    assert filter_rule_from_spec(text) == filter_rule_from_spec(text + "\n")


def test_filter_problems_name_each_refused_filter_on_the_controller():
    assert rsyslog_filter_problems([':msg, contains, "type=PATH" stop', "*.* @@127.0.0.1:6514"]) == []
    problems = rsyslog_filter_problems([':msg, contains, "x" stop', "*.* @@127.0.0.1:70000",
                                        {"operator": "regex", "value": "([", "action": "stop"}])
    assert len(problems) == 2, problems
    assert problems[0] == "filters[2]: forward to 127.0.0.1: port 70000 is out of range (1-65535)"
    assert problems[1].startswith("filters[3]: ")
    with pytest.raises(AnsibleFilterError, match="expects a list of filters, got str"):
        rsyslog_filter_problems(":msg, contains, \"x\" stop")


def test_filters_that_may_only_drop_name_each_other_action():
    filters = [':msg, contains, "type=PATH" stop', "*.* @@127.0.0.1:6514",
               {"property": "msg", "operator": "contains", "value": "x", "action": "file",
                "file": "/var/log/x.log"},
               ':msg, contains, "y" /var/log/y.log\n& stop']
    assert rsyslog_filter_problems(filters) == []
    assert rsyslog_filter_problems(filters, drop_only=True) == [
        "filters[2]: may only drop (stop), and also has a forward action",
        "filters[3]: may only drop (stop), and also has a file action",
        "filters[4]: may only drop (stop), and also has a file action"]


def test_plugin_exports_its_filters():
    assert set(FilterModule().filters()) == {"rsyslog_audit_selector", "rsyslog_facility",
                                             "rsyslog_filter_problems", "rsyslog_scoped_filters"}


def test_evtsys_cfg_refuses_one_subcategory_given_as_a_string():
    refused = r"a list of audit subcategories, not the string 'Logon'"
    with pytest.raises(AnsibleFilterError, match=refused):
        evtsys_cfg("Logon")
