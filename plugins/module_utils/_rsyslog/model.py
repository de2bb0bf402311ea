# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""rsyslog filter rules by meaning: a filter (property, selector or RainerScript expression),
the actions it triggers, and the chunks of whole lines a configuration file is read into.

Equality is by meaning: whitespace, keyword case, ``~`` vs ``stop``, ``-/file`` vs
``/file`` vs ``action(type="omfile" file=...)``, ``@host`` vs ``action(type="omfwd"
target="host" port="514" protocol="udp")`` (defaults dropped), ``:msg, contains, "x"`` vs
``if $msg contains "x"`` and legacy ``$ActionQueue...`` directives vs the ``queue.*``
parameters of the action they apply to.  Everything in this package is pure (no
AnsibleModule, no file system but ``validate``) and runs on Python 3.8+.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple, Union

LINE_OPERATORS = ("contains", "isequal", "startswith", "regex", "ereregex", "isempty")
SCRIPT_OPERATORS = ("contains_i", "startswith_i")
OPERATORS = LINE_OPERATORS + SCRIPT_OPERATORS

FORWARD_PROTOCOLS = ("udp", "tcp")
DEFAULT_FORWARD_PORT = 514
DEFAULT_MAX_DISK_SPACE = "1g"


class FilterSyntaxError(ValueError):
    """A filter given by the user (string or mapping) is not a rule this module can write."""


@dataclass(frozen=True)
class PropertyFilter:
    """``:property, [!]operator, "value"``; ``value`` is the unescaped string rsyslog compares."""

    property: str
    operator: str
    value: str
    negated: bool = False


@dataclass(frozen=True)
class SelectorFilter:
    """A facility.priority selector such as ``*.info;mail.none``."""

    selector: str
    raw: str = field(default="", compare=False)


@dataclass(frozen=True)
class ExpressionFilter:
    """A RainerScript ``if`` expression this module does not model further."""

    expression: str
    raw: str = field(default="", compare=False)


Filter = Union[PropertyFilter, SelectorFilter, ExpressionFilter]


@dataclass(frozen=True)
class Action:
    """One action.  ``kind`` is stop, forward, file or other; ``params`` is normalized.

    ``display`` holds the parameters as they are written, ``raw`` the source text of an
    ``other`` action, ``legacy`` whether it came from a legacy ``@``/``@@`` form.
    """

    kind: str
    params: Tuple[Tuple[str, str], ...] = ()
    display: Tuple[Tuple[str, str], ...] = field(default=(), compare=False)
    raw: str = field(default="", compare=False)
    legacy: bool = field(default=False, compare=False)

    def destination(self) -> Tuple[str, ...]:
        """What the action writes to, without its tuning: the identity of the action."""
        values = dict(self.params)
        if self.kind == "forward":
            return ("forward", values.get("target", ""), values.get("port", "514"),
                    values.get("protocol", "udp"))
        if self.kind == "file":
            return ("file", values.get("file", ""))
        if self.kind == "stop":
            return ("stop",)
        return ("other",) + tuple(value for _name, value in self.params)


STOP = Action("stop")


@dataclass(frozen=True)
class FilterRule:
    """A filter and the actions it triggers."""

    filter: Filter
    actions: Tuple[Action, ...]

    def identity(self) -> tuple:
        """Same filter, same destinations: the 'same rule' even when tuning differs."""
        return (self.filter, tuple(action.destination() for action in self.actions))


@dataclass
class Chunk:
    """Whole lines of a file; ``rule`` is set when they hold exactly one modeled rule."""

    text: str
    rule: Optional[FilterRule] = None
    error: str = ""
