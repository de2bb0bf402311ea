# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Validate an rsyslog drop-in with the real rsyslogd, inside the configuration that loads it.

``rsyslogd -N1 -f FRAGMENT`` is the wrong test for a drop-in: a fragment that only
discards has no output of its own and rsyslogd refuses it ("there are no active actions
configured", error 2103) although the full configuration would load it fine.  So the
candidate is checked in place: a copy of the main configuration is written in which the
include that would load the target loads the candidate instead (every other file is
included as it is, in rsyslog's sorted order), and rsyslogd checks that copy.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
import shutil
import tempfile
from typing import Callable, List, Optional, Sequence, Tuple

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.parser import (
    configuration_problem,
    parse_config,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils.managed_file import (
    MAX_FILE_BYTES,
    FileValidationError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._text.regular_file import (
    FileTooLarge,
    NotARegularFile,
    read_regular,
)

DEFAULT_MAIN_CONFIG = "/etc/rsyslog.conf"

_LEGACY_INCLUDE = re.compile(r"^([ \t]*)\$IncludeConfig[ \t]+(\S+)[^\n]*$",
                             re.MULTILINE | re.IGNORECASE)
_OBJECT_INCLUDE = re.compile(r"\binclude\s*\(([^)]*)\)", re.IGNORECASE)
_FILE_PARAM = re.compile(r"\bfile\s*=\s*\"([^\"]*)\"", re.IGNORECASE)

# Without a main configuration the candidate is checked alone; this output keeps rsyslogd
# from refusing a discard-only candidate for having no active action.
_STANDALONE_SINK = ('# validation only: an output so that a discard-only candidate loads\n'
                    '*.* action(type="omfile" file="/dev/null")\n')


def _include_pattern(pattern: str) -> str:
    """rsyslog includes every file of a directory named with a trailing slash."""
    return pattern + "*" if pattern.endswith("/") else pattern


def include_covers(pattern: str, target: str) -> bool:
    """Whether rsyslog's include ``pattern`` would load the file ``target`` (glob rules)."""
    pattern = _include_pattern(pattern)
    if os.path.dirname(pattern) != os.path.dirname(target):
        return pattern == target
    name = os.path.basename(target)
    if name.startswith(".") and not os.path.basename(pattern).startswith("."):
        return False
    return fnmatch.fnmatchcase(name, os.path.basename(pattern))


def read_after(path: str, drop_in: str) -> bool:
    """Whether rsyslog reads ``path`` after ``drop_in`` where one include loads both: a file
    of the same directory whose name sorts after its own (glob's order)."""
    return os.path.dirname(path) == os.path.dirname(drop_in) and \
        os.path.basename(path).encode() > os.path.basename(drop_in).encode()


def _commented(text: str, position: int) -> bool:
    line_start = text.rfind("\n", 0, position) + 1
    return "#" in text[line_start:position]


def _replacement(pattern: str, target: str, candidate: str, indent: str,
                 expand: Callable[[str], List[str]]) -> str:
    files = sorted(expand(_include_pattern(pattern)))
    if target in files:
        files[files.index(target)] = candidate
    else:
        files.append(target)
        files.sort()
        files[files.index(target)] = candidate
    return "\n".join('%sinclude(file="%s")' % (indent, name) for name in files)


def validation_config(main_text: Optional[str], target: str, candidate: str,
                      expand: Callable[[str], List[str]] = glob.glob) -> str:
    """The main configuration with ``candidate`` loaded where rsyslog would load ``target``.

    The include (``$IncludeConfig`` or ``include(file=...)``) whose pattern covers the
    target becomes one ``include(file=...)`` per file it matches, the candidate standing
    in for the target.  When no include covers the target, the candidate is included at
    the end; with no main configuration at all it is checked alone, with a sink.
    """
    if main_text is None:
        return '%sinclude(file="%s")\n' % (_STANDALONE_SINK, candidate)
    pieces = []
    last = 0
    covered = False
    spans: List[Tuple[int, int, str, str]] = []
    for match in _LEGACY_INCLUDE.finditer(main_text):
        spans.append((match.start(), match.end(), match.group(2), match.group(1)))
    for match in _OBJECT_INCLUDE.finditer(main_text):
        name = _FILE_PARAM.search(match.group(1))
        if name and not _commented(main_text, match.start()):
            spans.append((match.start(), match.end(), name.group(1), ""))
    for start, end, pattern, indent in sorted(spans):
        if not include_covers(pattern, target):
            continue
        covered = True
        pieces.append(main_text[last:start])
        pieces.append(_replacement(pattern, target, candidate, indent, expand))
        last = end
    pieces.append(main_text[last:])
    text = "".join(pieces)
    if not covered:
        if text and not text.endswith("\n"):
            text += "\n"
        text += '# validation only: %s is not included by the main configuration\n' % target
        text += 'include(file="%s")\n' % candidate
    return text


def refusal_message(output: str, candidate: str, target: str) -> str:
    """rsyslogd's own complaint, naming the target instead of the temporary candidate."""
    lines = [line for line in output.replace(candidate, target).splitlines()
             if line.strip() and "End of config validation run" not in line
             and "config validation run (level" not in line]
    return "\n".join(lines) or output.strip()


def _read_main_config(path: str) -> Optional[str]:
    """The text of the main configuration (None: there is none), bounded as the target is."""
    try:
        data = read_regular(path, "an rsyslog configuration file", MAX_FILE_BYTES)
    except FileNotFoundError:
        return None
    except (NotARegularFile, FileTooLarge) as error:
        raise FileValidationError("main_config %s" % error)
    # line endings as a text-mode read gives them (as this module read the file before)
    return data.decode("utf-8", "surrogateescape").replace("\r\n", "\n").replace("\r", "\n")


def validate_drop_in(run_command: Callable[[Sequence[str]], Tuple[int, str, str]],
                     rsyslogd: str, main_config: str, target: str, candidate: str,
                     main_text: Optional[str] = None) -> str:
    """Run ``rsyslogd -N1`` on a copy of the full configuration that loads ``candidate``.

    ``run_command(argv)`` returns ``(rc, stdout, stderr)``.  Raises
    :class:`FileValidationError` with rsyslogd's message when it refuses, and without asking
    it when the main configuration is no rsyslog configuration at all; returns its output
    otherwise.
    """
    if main_text is None:
        main_text = _read_main_config(main_config)
    problem = configuration_problem(parse_config(main_text)) if main_text else None
    if problem:
        # rsyslogd would quote the file in its refusal (a link to /etc/shadow, say)
        raise FileValidationError("main_config %s: %s" % (main_config, problem))
    work = tempfile.mkdtemp(prefix="rsyslog-validate-")
    try:
        copy = os.path.join(work, os.path.basename(main_config) or "rsyslog.conf")
        with open(copy, "w", encoding="utf-8", errors="surrogateescape") as handle:
            if os.path.realpath(target) == os.path.realpath(main_config):
                # the main configuration itself is edited: the candidate takes its place
                handle.write('include(file="%s")\n' % candidate)
            else:
                handle.write(validation_config(main_text, os.path.abspath(target), candidate))
        rc, out, err = run_command([rsyslogd, "-N1", "-f", copy])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    output = "\n".join(part for part in (out, err) if part)
    if rc != 0:
        raise FileValidationError(
            "rsyslogd refused the configuration with %s: %s"
            % (target, refusal_message(output.replace(copy, main_config), candidate, target)),
            output=output.replace(copy, main_config).replace(candidate, target))
    return output
