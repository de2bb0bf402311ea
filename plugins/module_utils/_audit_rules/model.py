# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""An audit rule by meaning (:class:`AuditRule`), what the target machine tells about it
(:class:`RuleContext`), and the error a rule ``auditctl`` would refuse raises."""

from __future__ import annotations

from dataclasses import dataclass, field, fields as dataclass_fields
from typing import Dict, Iterable, Optional, Tuple

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.grammar import (
    CONTROL_OPTIONS,
    FIELD_ORDER,
    FIELD_RANK,
    MACHINE_FAMILIES,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._text.printable import (
    sanitize,
)

Field = Tuple[str, str, str]
"""``(name, operator, canonical value)`` of a ``-F`` field or a ``-C`` comparison."""


class RuleSyntaxError(ValueError):
    """A rule ``auditctl`` would refuse; names the rule and the offending word (the message
    shows every character: a rule may come from any file)."""

    def __init__(self, rule, token, reason):
        self.rule = rule
        self.token = token
        self.reason = reason
        super().__init__(sanitize('invalid audit rule "%s": %s (at "%s")' % (rule, reason, token)))


@dataclass(frozen=True)
class RuleContext:
    """What the target machine knows and a rule's meaning depends on.

    ``machine`` is the kernel's machine name (``uname -m``): it says what ``b64`` means
    and which table names syscalls of rules without ``-F arch=``.  ``syscall_tables``
    maps ``"b32"``/``"b64"`` to ``{name: number}`` (from ``ausyscall --dump``); without
    them syscall names are checked for shape only and numbers stay numbers.
    """

    machine: str = "x86_64"
    syscall_tables: Optional[Dict[str, Dict[str, int]]] = None

    @property
    def native_arch(self) -> str:
        family = MACHINE_FAMILIES.get(self.machine)
        return "b%d" % family[1] if family else "b64"


DEFAULT_CONTEXT = RuleContext()


def _with_slots(cls, *extra: str):
    """The dataclass ``cls`` made again with ``__slots__`` (``dataclass(slots=True)`` needs
    Python 3.10): its fields and ``extra`` names in slots instead of an instance dict.  Copies
    and pickles of a frozen instance are made through ``__init__``, as Python 3.10 does."""
    names = tuple(item.name for item in dataclass_fields(cls))
    namespace = dict(cls.__dict__)
    for name in names + ("__dict__", "__weakref__"):
        namespace.pop(name, None)
    namespace["__slots__"] = names + extra

    def __getstate__(self):
        return [getattr(self, name) for name in names]

    def __setstate__(self, state):
        self.__init__(*state)

    namespace.update(__getstate__=__getstate__, __setstate__=__setstate__)
    return type(cls)(cls.__name__, cls.__bases__, namespace)


@dataclass(frozen=True)
class AuditRule:
    """One line of a rules file, by meaning.

    ``kind`` is ``control`` (``-b 8192``), ``syscall`` (``-a``/``-A``/``-d``) or
    ``watch`` (``-w``/``-W``).  ``delete`` is true for ``-d`` and ``-W``.  Fields are
    ``(name, operator, canonical value)`` tuples kept in a fixed order, so equal rules
    compare equal.  ``prepend`` (``-A``) only decides where the kernel puts the rule
    and is not part of its meaning.
    """

    kind: str
    option: str = ""
    value: Optional[str] = None
    delete: bool = False
    action: str = ""
    filter_list: str = ""
    syscalls: Tuple[str, ...] = ()
    fields: Tuple[Field, ...] = ()
    comparisons: Tuple[Field, ...] = ()
    path: str = ""
    permissions: str = ""
    keys: Tuple[str, ...] = ()
    prepend: bool = field(default=False, compare=False)

    # pylint: disable-next=too-many-arguments
    def __init__(self, kind: str, option: str = "", value: Optional[str] = None,
                 delete: bool = False, action: str = "", filter_list: str = "",
                 syscalls: Tuple[str, ...] = (), fields: Tuple[Field, ...] = (),
                 comparisons: Tuple[Field, ...] = (), path: str = "", permissions: str = "",
                 keys: Tuple[str, ...] = (), prepend: bool = False):
        # What dataclass(frozen=True) writes, without looking up object.__setattr__ for each
        # field: a long file makes a million rules.  The slots' own setters are frozen-proof.
        _SET_KIND(self, kind)
        _SET_OPTION(self, option)
        _SET_VALUE(self, value)
        _SET_DELETE(self, delete)
        _SET_ACTION(self, action)
        _SET_FILTER_LIST(self, filter_list)
        _SET_SYSCALLS(self, syscalls)
        _SET_FIELDS(self, fields)
        _SET_COMPARISONS(self, comparisons)
        _SET_PATH(self, path)
        _SET_PERMISSIONS(self, permissions)
        _SET_KEYS(self, keys)
        _SET_PREPEND(self, prepend)
        # The rules of a long file go through sets and dicts again and again: hash them once.
        _SET_HASH(self, hash((kind, option, value, delete, action, filter_list, syscalls, fields,
                              comparisons, path, permissions, keys)))

    def __hash__(self) -> int:
        return self._hash  # pylint: disable=no-member

    @property
    def arch(self) -> Optional[str]:
        """The ``-F arch=`` value the rule's syscalls are named in, if any."""
        return arch_of(self.fields)

    @property
    def setting(self) -> Optional[str]:
        """For control options that hold a value, the option name; else None."""
        if self.kind == "control" and CONTROL_OPTIONS.get(self.option):
            return self.option
        return None


# A long file has a million rules: slots instead of a dict each, and the hash in one of them.
AuditRule = _with_slots(AuditRule, "_hash")  # type: ignore[misc]
(_SET_KIND, _SET_OPTION, _SET_VALUE, _SET_DELETE, _SET_ACTION, _SET_FILTER_LIST, _SET_SYSCALLS,
 _SET_FIELDS, _SET_COMPARISONS, _SET_PATH, _SET_PERMISSIONS, _SET_KEYS, _SET_PREPEND,
 _SET_HASH) = (AuditRule.__dict__[name].__set__ for name in AuditRule.__slots__)


def arch_of(fields: Iterable[Field]) -> Optional[str]:
    """The ``-F arch=`` value among ``fields``, if any: it names the table of the syscalls."""
    for name, operator, value in fields:
        if name == "arch" and operator == "=":
            return value
    return None


def field_sort_key(item: Field) -> Tuple[int, str, str, str]:
    """Fields in a normalized rule: in :data:`FIELD_ORDER`, unknown ones last."""
    name, operator, value = item
    return (FIELD_RANK.get(name, len(FIELD_ORDER)), name, operator, value)
