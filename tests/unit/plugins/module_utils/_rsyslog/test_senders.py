"""The log server's allowed senders: how entries are read and written for rsyslog.

Whether rsyslogd itself lets the right senders through the written check is proven by the
rsyslog_server Molecule scenario, on each platform's rsyslog (tests/test_sender_check.py).
"""

from __future__ import annotations

import ipaddress
import re

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.whotouched.server_audit.plugins.filter.rsyslog_senders import (
    FilterModule,
    rsyslog_allowed_senders,
    rsyslog_sender_check,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.senders import (
    SenderSyntaxError,
    _ipv6_pattern,
    allowed_sender_value,
    parse_senders,
    sender_check,
)


@pytest.mark.parametrize("entry, network", [
    ("192.0.2.10", "192.0.2.10/32"),
    (" 192.0.2.0/24 ", "192.0.2.0/24"),
    ("192.0.2.77/24", "192.0.2.0/24"),
    ("::1", "::1/128"),
    ("[::1]", "::1/128"),
    ("[2001:DB8::]/32", "2001:db8::/32"),
    ("2001:db8:0:0::7/64", "2001:db8::/64"),
    ("0.0.0.0/0", "0.0.0.0/0"),
])
def test_entries_are_addresses_or_networks(entry, network):
    assert parse_senders([entry]) == [ipaddress.ip_network(network)]


@pytest.mark.parametrize("entry", ["", "host.example.com", "*.example.com", "192.0.2.0/33",
                                   "300.1.1.1", "[192.0.2.1]x", "2001:db8::/129", "::1/"])
def test_anything_else_is_refused_with_its_position(entry):
    with pytest.raises(SenderSyntaxError, match=r"allowed sender 2, %s, is not" % re.escape(repr(entry))):
        parse_senders(["192.0.2.1", entry])
    with pytest.raises(AnsibleFilterError, match="rsyslog_allowed_senders: allowed sender 1"):
        rsyslog_allowed_senders([entry])
    with pytest.raises(AnsibleFilterError, match="rsyslog_sender_check: allowed sender 1"):
        rsyslog_sender_check([entry])


def test_the_directive_value_brackets_ipv6():
    assert allowed_sender_value(["127.0.0.0/29", "::1", "[2001:db8::5]/32", "192.0.2.9"]) == \
        "127.0.0.0/29, [::1]/128, [2001:db8::]/32, 192.0.2.9/32"
    assert FilterModule().filters()["rsyslog_allowed_senders"](["::1"]) == "[::1]/128"


def test_no_entries_no_check():
    assert sender_check([]) == ""
    assert FilterModule().filters()["rsyslog_sender_check"]([]) == ""


def test_ipv4_entries_only_compare_numbers_of_ipv4_text():
    check = sender_check(["127.0.0.0/29", "192.0.2.1"])
    assert "whotouched_sender6" not in check
    assert check.splitlines() == [
        'if not ((not ($fromhost-ip contains ":") and ((ipv42num($fromhost-ip) >= 2130706432 and '
        'ipv42num($fromhost-ip) <= 2130706439) or (ipv42num($fromhost-ip) >= 3221225985 and '
        'ipv42num($fromhost-ip) <= 3221225985)))) then {',
        "    stop",
        "}",
    ]


def test_ipv6_entries_expand_the_sender_of_the_property_given():
    check = sender_check(["::1", "2001:db8::/33"], source="$.addr")
    assert check.startswith('if $.addr contains ":" and not ($.addr contains ".") then {\n'
                            "    set $.whotouched_sender6 = field($.addr, 37, 1);")
    assert check.endswith(
        "re_match($.whotouched_sender6, '^(00000000000000000000000000000001|"
        "20010db8[01234567][0-9a-f]{23})$')) then {\n    stop\n}")
    assert "ipv42num" not in check


@pytest.mark.parametrize("network, inside, outside", [
    ("::/0", ["::", "ffff::"], []),
    ("::1/128", ["::1"], ["::", "::2", "1::1"]),
    ("2001:db8::/32", ["2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"], ["2001:db9::", "2001:db7::1"]),
    ("2001:db8:8000::/33", ["2001:db8:8000::1", "2001:db8:ffff::"], ["2001:db8:7fff::"]),
    ("fe80::/10", ["fe80::1", "febf::"], ["fec0::", "fe7f::"]),
    ("2001:db8::/127", ["2001:db8::", "2001:db8::1"], ["2001:db8::2"]),
])
def test_an_ipv6_pattern_matches_its_network_only(network, inside, outside):
    pattern = re.compile("^(%s)$" % _ipv6_pattern(ipaddress.IPv6Network(network)))
    for address in inside:
        assert pattern.match("%032x" % int(ipaddress.IPv6Address(address))), address
    for address in outside:
        assert not pattern.match("%032x" % int(ipaddress.IPv6Address(address))), address
    assert not pattern.match("")


@given(st.integers(0, 2 ** 128 - 1), st.integers(0, 2 ** 128 - 1), st.integers(0, 128))
def test_an_ipv6_pattern_agrees_with_ipaddress(address, base, prefix):
    network = ipaddress.IPv6Network((base, prefix), strict=False)
    pattern = "^(%s)$" % _ipv6_pattern(network)
    assert bool(re.match(pattern, "%032x" % address)) == (ipaddress.IPv6Address(address) in network)
