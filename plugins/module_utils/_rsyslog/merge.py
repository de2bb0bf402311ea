# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""A drop-in merged with wanted filter rules by meaning: chunks that hold no rule asked about
are never touched."""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.actions import (
    as_written,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.model import (
    Chunk,
    FilterRule,
    FilterSyntaxError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.parser import (
    configuration_problem,
    parse_config,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.requested import (
    writable_filter_rule,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.serializer import (
    serialize_filter_rule,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils.managed_file import (
    FileValidationError,
    MergeResult,
)


def merge_filter_rules(text: Optional[str], desired: Sequence[FilterRule], state: str = "present",
                       exclusive: bool = False) -> MergeResult:
    """Merge ``desired`` rules into configuration ``text`` by meaning.

    present: a rule equal in meaning is left alone; a rule with the same filter and
    destinations but other tuning is replaced in place; a missing rule is inserted before
    the next desired rule already in the file (so list order is kept), else appended.
    ``exclusive`` also removes every other rule.  Raises :class:`FilterSyntaxError` for a
    desired rule :func:`writable_filter_rule` refuses.  absent: rules equal in meaning to a
    desired rule (as given or in its reliable form) are removed; they are not checked, so
    that a rule rsyslog cannot honour can still be taken out.  Chunks that hold no
    modeled rule are never touched.  The result's ``returns`` hold the desired rules as
    written (``filters``).
    """
    chunks = parse_config(text or "")
    problem = configuration_problem(chunks)
    if problem:
        raise FileValidationError(problem)
    removed: List[str] = []
    added: List[str] = []

    if state == "absent":
        kept = []
        for chunk in chunks:
            if chunk.rule is not None and any(chunk.rule == rule or chunk.rule ==
                                              as_written(rule) for rule in desired):
                removed.append(chunk.text.strip())
            else:
                kept.append(chunk)
        return MergeResult(text, "".join(c.text for c in kept), added, removed,
                           returns={"filters": normalized_filters(desired)})

    wanted = _distinct(writable_filter_rule(rule) for rule in desired)
    placed: List[Optional[int]] = [None] * len(wanted)  # chunk index holding each rule
    claimed = set()
    for position, rule in enumerate(wanted):
        for index, chunk in enumerate(chunks):
            if index not in claimed and chunk.rule == rule:
                placed[position] = index
                claimed.add(index)
                break
    for position, rule in enumerate(wanted):
        if placed[position] is not None:
            continue
        for index, chunk in enumerate(chunks):
            if (index not in claimed and chunk.rule is not None
                    and chunk.rule.identity() == rule.identity()):
                removed.append(chunk.text.strip())
                chunks[index] = Chunk(serialize_filter_rule(rule), rule)
                added.append(serialize_filter_rule(rule).strip())
                placed[position] = index
                claimed.add(index)
                break
    if exclusive:
        for index, chunk in enumerate(chunks):
            if chunk.rule is not None and index not in claimed:
                removed.append(chunk.text.strip())
                chunks[index] = Chunk("")
    inserts: Dict[int, List[Chunk]] = {}
    for position in range(len(wanted)):
        if placed[position] is not None:
            continue
        anchor = next((placed[later] for later in range(position + 1, len(wanted))
                       if placed[later] is not None), len(chunks))
        new = Chunk(serialize_filter_rule(wanted[position]), wanted[position])
        inserts.setdefault(anchor, []).append(new)
        added.append(new.text.strip())
    written = [index for index, chunk in enumerate(chunks) if chunk.text]
    if len(chunks) in inserts and written and not chunks[written[-1]].text.endswith("\n"):
        last = chunks[written[-1]]
        chunks[written[-1]] = Chunk(last.text + "\n", last.rule)
    merged: List[Chunk] = []
    for index in range(len(chunks) + 1):
        merged.extend(inserts.get(index, []))
        if index < len(chunks):
            merged.append(chunks[index])
    return MergeResult(text, "".join(c.text for c in merged), added, removed,
                       returns={"filters": normalized_filters(desired)})


def _distinct(rules: Iterable[FilterRule]) -> List[FilterRule]:
    """The rules once each (``H.example`` and ``h.example`` are one target); raises
    :class:`FilterSyntaxError` for two that send the same messages to the same destinations
    with other settings, since one would replace the other."""
    kept: List[FilterRule] = []
    for rule in rules:
        same = next((other for other in kept if other.identity() == rule.identity()), None)
        if same is None:
            kept.append(rule)
        elif same != rule:
            raise FilterSyntaxError(
                "two filters send the same messages to the same destination with other "
                "settings; give it once:\n%s%s" % (serialize_filter_rule(same),
                                                   serialize_filter_rule(rule)))
    return kept


def normalized_filters(desired: Sequence[FilterRule]) -> List[str]:
    """The desired rules as this module writes them (one string each, no final newline)."""
    return [serialize_filter_rule(as_written(rule)).rstrip("\n") for rule in desired]
