# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Who may send to the log server: one list of addresses and networks, written for rsyslog.

rsyslog's ``$AllowedSender`` restricts imudp and imtcp, but not imptcp, which takes the plain
TCP input because rsyslog before 8.2106 cannot mix plain and TLS listeners in one imtcp.
For imptcp the same list becomes a RainerScript check at the top of the input's ruleset.
Both are written from the networks :func:`parse_senders` reads, so they cannot disagree on
what an entry means.

Everything here is pure (no AnsibleModule, no file system) and runs on Python 3.8+.
"""

from __future__ import annotations

import ipaddress
from typing import List, Sequence, Union

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

# The local variable the check expands an IPv6 sender address into (32 hex digits).
_EXPANDED = "$.whotouched_sender6"


class SenderSyntaxError(ValueError):
    """An allowed-sender entry is not an address or a network."""


def parse_senders(entries: Sequence[str]) -> List[Network]:
    """The networks of ``entries``: addresses (a network of one) or networks, IPv6 with or
    without brackets (``::1``, ``[::1]``, ``[2001:db8::]/32``); host bits are dropped as
    rsyslog drops them (``192.0.2.7/24`` is ``192.0.2.0/24``)."""
    networks: List[Network] = []
    for number, entry in enumerate(entries, start=1):
        text = str(entry).strip()
        address, slash, bits = text.partition("/")
        if address.startswith("[") and address.endswith("]"):
            address = address[1:-1]
        try:
            networks.append(ipaddress.ip_network(address + slash + bits, strict=False))
        except ValueError:
            raise SenderSyntaxError(
                "allowed sender %d, %r, is not an IPv4 or IPv6 address or network "
                "(such as 192.0.2.10, 192.0.2.0/24, 2001:db8::/32)" % (number, entry)) from None
    return networks


def allowed_sender_value(entries: Sequence[str]) -> str:
    """The value of ``$AllowedSender UDP, ...`` / ``TCP, ...``: IPv6 networks in brackets."""
    return ", ".join(
        ("[%s]/%d" if network.version == 6 else "%s/%d")
        % (network.network_address.compressed, network.prefixlen)
        for network in parse_senders(entries))


def _ipv6_pattern(network: ipaddress.IPv6Network) -> str:
    """An ERE matching exactly the 32 lowercase hex digits of the addresses in ``network``."""
    digits = "%032x" % int(network.network_address)
    whole, rest = divmod(network.prefixlen, 4)
    pattern = digits[:whole]
    if rest:
        first = int(digits[whole], 16)
        pattern += "[%s]" % "".join("%x" % (first + offset) for offset in range(1 << (4 - rest)))
    free = 32 - whole - (1 if rest else 0)
    return pattern + ("[0-9a-f]{%d}" % free if free else "")


def sender_check(entries: Sequence[str], source: str = "$fromhost-ip") -> str:
    """RainerScript statements that ``stop`` every message whose ``source`` property is not
    in one of ``entries`` (for an input rsyslog's ``$AllowedSender`` does not cover).

    IPv4 senders are compared as numbers (``ipv42num``).  An IPv6 sender is first written
    out in full, 32 hex digits (its zone, ``%eth0``, dropped), so that a network is a prefix
    of them; one written with an embedded IPv4 address (``::ffff:192.0.2.1``) matches no
    IPv6 entry.  Only functions rsyslog 8.2001 has are used.
    """
    networks = parse_senders(entries)
    if not networks:
        return ""
    terms = []
    ipv4 = ["(ipv42num(%s) >= %d and ipv42num(%s) <= %d)"
            % (source, int(network.network_address), source, int(network.broadcast_address))
            for network in networks if network.version == 4]
    if ipv4:
        # not for IPv6 text: older ipv42num reads the digits of "::1" as an IPv4 address
        terms.append('(not (%s contains ":") and (%s))' % (source, " or ".join(ipv4)))
    lines = []
    ipv6 = [network for network in networks if network.version == 6]
    if ipv6:
        var = _EXPANDED
        lines += [
            'if %s contains ":" and not (%s contains ".") then {' % (source, source),
            "    set %s = field(%s, 37, 1);" % (var, source),
            # one zero group on each open end, so that "::" always sits between groups
            '    if %s startswith "::" then {' % var,
            '        set %s = "0" & %s;' % (var, var),
            "    }",
            # single quotes: "$" in double quotes would start a variable
            "    if re_match(%s, '::$') then {" % var,
            '        set %s = %s & "0";' % (var, var),
            "    }",
            # "::" stands for the groups missing from eight; the colons count those present
            '    set %s = replace(%s, "::", substring(":0:0:0:0:0:0:0:", 0, '
            '17 - 2 * (strlen(%s) - strlen(replace(%s, ":", "")))));' % (var, var, var, var),
            # each group to four digits
            "    set %s = %s;" % (var, " &\n        ".join(
                'substring("000", 0, 4 - strlen(field(%s, 58, %d))) & field(%s, 58, %d)'
                % (var, group, var, group) for group in range(1, 9))),
            "}",
        ]
        terms += ["re_match(%s, '^(%s)$')" % (var, "|".join(_ipv6_pattern(network) for network in ipv6))]
    lines.append("if not (%s) then {" % " or ".join(terms))
    lines.append("    stop")
    lines.append("}")
    return "\n".join(lines)
