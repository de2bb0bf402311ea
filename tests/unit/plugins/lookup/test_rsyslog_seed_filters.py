"""The seed noise list reaches playbooks through the lookup, from its one home."""

from __future__ import annotations

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.requested import (
    filter_rule_from_spec,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.seed_filters import (
    compact_noise_filters,
    seed_noise_filters,
)
from tests.support.playbook import run_module


def test_lookup_through_ansible_gives_rules_the_module_accepts():
    result = run_module("ansible.builtin.debug",
                        {"msg": "{{ query('whotouched.server_audit.rsyslog_seed_filters') }}"})
    assert not result.get("failed"), result
    assert result["msg"] == seed_noise_filters()
    assert all(filter_rule_from_spec(spec).actions[0].kind == "stop" for spec in result["msg"])


def test_lookup_gives_the_compact_list_when_asked():
    result = run_module("ansible.builtin.debug",
                        {"msg": "{{ query('whotouched.server_audit.rsyslog_seed_filters', compact=true) }}"})
    assert not result.get("failed"), result
    assert result["msg"] == compact_noise_filters()


def test_lookup_keeps_the_programs_it_is_told_to():
    result = run_module("ansible.builtin.debug", {
        "msg": "{{ query('whotouched.server_audit.rsyslog_seed_filters', compact=true, keep=['cat']) }}"})
    assert not result.get("failed"), result
    assert result["msg"] == compact_noise_filters(keep=("cat",))
