# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The honest file edit shared by the merge modules (``audit_rules``, ``rsyslog_filter``).

Read the file, let the caller compute the new text in memory (a :class:`MergeResult`),
build a diff, validate the candidate, and only then replace the target: temp file in the
target's own directory, ``atomic_move``, then file attributes.  Any failure before the move
leaves the target byte-for-byte as it was, so everything that can be checked beforehand (the
directory, the file attributes asked for) is checked before the move, in check mode too.
:func:`edit_merged_file` does all of it for a module whose options come from
:func:`merged_file_argument_spec` (documented by the ``merged_file`` doc fragment).

A symbolic link is followed: the file it points to is changed and the link stays.  The merge
decides whether the text it reads is a file it may change at all (``audit_rules`` refuses one no
line of which is a rule, such as a link to ``/etc/shadow``), before anything is written or shown.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.whotouched.server_audit.plugins.module_utils._text.regular_file import (
    FileTooLarge,
    NotARegularFile,
    read_regular,
)

# The options every merge module has; the merged_file doc fragment documents them.
MERGED_FILE_OPTIONS = dict(
    path=dict(type="path", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    exclusive=dict(type="bool", default=False),
    backup=dict(type="bool", default=False),
)

# The largest file a merge module reads: far more than any audit rules file, rsyslog drop-in
# or auditd configuration holds (500 times the largest public audit rule sets: about 250,000
# rules, read in a few seconds).  A larger one is refused before it is read.
MAX_FILE_BYTES = 16 * 1024 * 1024

# Lines whose problems a merge module tells one by one; the rest are counted (a file that is
# not of the module's kind, or a very long one, would otherwise come back whole in warnings).
MAX_LINE_WARNINGS = 20


class FileValidationError(ValueError):
    """The file or the candidate cannot be used; ``output`` holds what a validator said."""

    def __init__(self, message, output=""):
        super().__init__(message)
        self.output = output


def resolved_path(path):
    """The file ``path`` names: the target of a symbolic link, else ``path`` itself."""
    return os.path.realpath(path) if os.path.islink(path) else path


def regular_file_problem(path, what="a file"):
    """Why ``path`` cannot be read as ``what`` (say ``"a rules file"``), or None for a regular
    file or a missing one.  A directory, a FIFO (whose read would block) or a device is named."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as error:
        return "cannot read %s: %s" % (path, error.strerror)
    if stat.S_ISDIR(status.st_mode):
        return "%s is a directory, not %s" % (path, what)
    if not stat.S_ISREG(status.st_mode):
        return "%s is not a regular file" % path
    return None


def read_text(path, what="a file", max_bytes=MAX_FILE_BYTES):
    """Return the file's text, or None when it does not exist.  Line endings are kept.

    Raises :class:`FileValidationError` naming the file when it is a directory, not a
    regular file (a FIFO would block the read), unreadable, larger than ``max_bytes`` (refused
    before it is read) or not UTF-8 text.
    """
    problem = regular_file_problem(path, what)
    if problem:
        raise FileValidationError(problem)
    try:
        # Read as report files are: the path may have become a FIFO since it was looked at.
        data = read_regular(path, what, max_bytes)
    except FileNotFoundError:
        return None
    except (NotARegularFile, FileTooLarge) as error:
        raise FileValidationError(str(error))
    except OSError as error:
        raise FileValidationError("cannot read %s: %s" % (path, error.strerror))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FileValidationError("%s is not UTF-8 text (byte 0x%02x at offset %d)"
                                  % (path, data[error.start], error.start))


def _user_exists(name):
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _group_exists(name):
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


# A regular file's status, for working out what a symbolic mode gives.
_A_FILE = os.stat_result((stat.S_IFREG | 0o644,) + (0,) * 9)


def _mode_problem(mode):
    """Why Ansible would refuse ``mode`` once the file is replaced, or None: read as Ansible
    reads it (octal, or symbolic through its own converter)."""
    if mode is None or isinstance(mode, int):
        return None
    text = str(mode)
    try:
        value = int(text, 8)
    except ValueError:
        try:
            AnsibleModule._symbolic_mode_to_octal(_A_FILE, text)  # pylint: disable=protected-access
        except Exception:  # pylint: disable=broad-except  # what Ansible itself catches
            return "mode %s is neither octal (0640) nor symbolic (u=rw,g=r,o=)" % text
        return None
    if value != stat.S_IMODE(value):
        return "mode %s is more than permission bits (at most 07777)" % text
    return None


# The attributes chattr sets (e2fsprogs), after an optional + - or =.
_SETTABLE_ATTRIBUTES = "aAcCdDeFijmPsStTux"


def _attributes_problem(attributes):
    """Why chattr would refuse ``attributes`` once the file is replaced, or None."""
    if attributes is None:
        return None
    text = str(attributes).strip()
    flags = text[1:] if text[:1] in ("+", "-", "=") else text
    unknown = sorted(set(flags) - set(_SETTABLE_ATTRIBUTES))
    if unknown:
        return ("attributes %s: %s cannot be set (chattr sets %s, after an optional +, - or =)"
                % (text, "".join(unknown), _SETTABLE_ATTRIBUTES))
    return None


def file_attribute_problems(mode, owner, group, user_exists=_user_exists,
                            group_exists=_group_exists):
    """What is wrong with the ``mode``, ``owner`` and ``group`` options, as messages.

    Ansible applies them after the file is replaced; checking first keeps a bad value
    from leaving a changed file behind a failed task.
    """
    problems = [_mode_problem(mode)]
    if owner is not None and not str(owner).isdigit() and not user_exists(owner):
        problems.append("owner %s is not a user of this host" % owner)
    if group is not None and not str(group).isdigit() and not group_exists(group):
        problems.append("group %s is not a group of this host" % group)
    return [problem for problem in problems if problem]


def writing_problem(directory, target):
    """Why ``target`` cannot be replaced by a file written in ``directory``, or None."""
    if not os.path.isdir(directory):
        return "directory %s does not exist" % directory
    if not os.access(directory, os.W_OK):
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return "directory %s is on a read-only file system" % directory
        return ("nothing can be written in directory %s: no write permission, or it is "
                "immutable (chattr +i)" % directory)
    # As root, only an immutable file (or a read-only file system) refuses a write.
    if os.geteuid() == 0 and os.path.exists(target) and not os.access(target, os.W_OK):
        return "%s is immutable (chattr +i): it cannot be replaced" % target
    return None


def check_target(module, path):
    """Fail with what :func:`write_atomically` and the file attributes would fail on.

    Called before anything is written, so that a real run fails with the target untouched.
    In check mode a missing directory, user or group is only warned about: an earlier task
    that check mode skipped (a package's installation) may create it.
    """
    params = module.params
    value_problem = _mode_problem(params.get("mode")) or _attributes_problem(
        params.get("attributes"))
    if value_problem:
        raise FileValidationError(value_problem)
    target = resolved_path(path)
    directory = os.path.dirname(os.path.abspath(target))
    problems = [writing_problem(directory, target)]
    problems += file_attribute_problems(None, params.get("owner"), params.get("group"))
    problems = [problem for problem in problems if problem]
    if problems and module.check_mode:
        module.warn("%s: a real run fails unless an earlier task creates it"
                    % "; ".join(problems))
    elif problems:
        raise FileValidationError("; ".join(problems))


def text_diff(path, before, after):
    """An Ansible diff dict for replacing ``before`` (None: no file) with ``after``."""
    return {
        "before": before or "",
        "after": after,
        "before_header": path if before is not None else "%s (absent)" % path,
        "after_header": path,
    }


def write_atomically(module, path, text, validate=None, backup=False):
    """Replace ``path`` with ``text`` through a temp file in the same directory.

    ``validate(temp_path)`` runs on the complete candidate before anything is replaced
    and raises :class:`FileValidationError` to refuse it.  Returns the backup file name
    (or None).
    """
    check_target(module, path)
    path = resolved_path(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        handle, temp_path = tempfile.mkstemp(prefix=".%s." % os.path.basename(path),
                                             dir=directory)
    except OSError as error:
        raise FileValidationError("cannot write in directory %s: %s"
                                  % (directory, error.strerror))
    try:
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as temp_file:
                temp_file.write(text)
                temp_file.flush()
                os.fsync(temp_file.fileno())
        except OSError as error:
            raise FileValidationError("cannot write the new %s: %s" % (path, error.strerror))
        if validate is not None:
            validate(temp_path)
        backup_file = None
        if backup and os.path.exists(path):
            backup_file = module.backup_local(path)
        module.atomic_move(temp_path, path, unsafe_writes=module.params.get("unsafe_writes", False))
    finally:
        if os.path.exists(temp_path):
            os.unlink(temp_path)
    return backup_file


def apply_file_attributes(module, path, changed, diff=None):
    """Apply mode/owner/group/SELinux options to ``path``; return the updated ``changed``."""
    path = resolved_path(path)
    if not os.path.exists(path):
        return changed
    params = module.params
    if module.check_mode and file_attribute_problems(None, params.get("owner"), params.get("group")):
        # Warned about by check_target: the user or group is yet to be created.
        return True
    file_args = module.load_file_common_arguments(module.params, path=path)
    return module.set_fs_attributes_if_different(file_args, changed, diff)


@dataclass
class MergeResult:
    """What a merge into a file's text decided.

    ``before`` is the file's text (None: no file), ``text`` the new text; ``added`` and
    ``removed`` name the entries (rules, filters) as the module returns them; ``warnings`` are
    for the user; ``returns`` holds the module's other return values (``rules``, ...).
    """

    before: Optional[str]
    text: str
    added: List[str]
    removed: List[str]
    warnings: List[str] = field(default_factory=list)
    returns: Dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """Whether the file's text changes (a missing file that stays empty does not)."""
        return self.text != (self.before or "")


def merged_file_argument_spec(**options):
    """A merge module's argument spec: :data:`MERGED_FILE_OPTIONS` and its own ``options``."""
    spec = dict(MERGED_FILE_OPTIONS)
    spec.update(options)
    return spec


def _validate_private_copy(validate, path, text):
    """Check mode: ``validate`` a copy of the candidate in a private directory, touch nothing."""
    work = tempfile.mkdtemp(prefix="merged-file-")
    try:
        candidate = os.path.join(work, os.path.basename(path))
        with open(candidate, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        validate(candidate)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def edit_merged_file(module, merge: Callable[[Optional[str]], MergeResult], what: str,
                     validate: Optional[Callable[[str], None]] = None
                     ) -> Tuple[MergeResult, Dict[str, Any]]:
    """The honest edit of ``module.params["path"]`` for a merge module.

    Refuses ``exclusive`` with ``state=absent``; reads the file (``what`` names what it must
    be, for the message when it is a directory); ``merge(text)`` computes the
    :class:`MergeResult`, whose warnings are given to the user (it raises
    :class:`FileValidationError` for a file it must not touch).  When the text changes, the
    target is checked, the candidate validated (``validate(candidate_path)`` raises
    :class:`FileValidationError`; in check mode on a private copy) and, unless in check mode,
    written atomically, with a backup when asked.  File attributes follow.  Any refusal fails
    the module with the file as it was.  Returns the merge and the module's result so far.
    """
    params = module.params
    path = params["path"]
    if params["exclusive"] and params["state"] == "absent":
        module.fail_json(msg="exclusive=true only makes sense with state=present")
    if os.path.basename(path) in ("", ".", ".."):
        module.fail_json(msg="path %s names a directory, not %s: give the file's name"
                         % (path, what), changed=False)
    try:
        before = read_text(path, what)
    except FileValidationError as error:
        module.fail_json(msg=str(error), changed=False)
    try:
        merged = merge(before)
    except FileValidationError as error:
        module.fail_json(msg="%s was not changed: %s" % (path, error), changed=False)
    for warning in merged.warnings:
        module.warn(warning)
    result = dict(merged.returns, changed=merged.changed, added=merged.added,
                  removed=merged.removed)
    if module._diff:  # pylint: disable=protected-access
        # Only asked for: the file twice over would be most of a large file's result.
        result["diff"] = text_diff(path, before, merged.text)
    if merged.changed:
        try:
            if module.check_mode:
                check_target(module, path)
                if validate is not None:
                    _validate_private_copy(validate, path, merged.text)
            else:
                backup_file = write_atomically(module, path, merged.text, validate,
                                               params["backup"])
                if backup_file:
                    result["backup_file"] = backup_file
        except FileValidationError as error:
            result["changed"] = False
            result.pop("diff", None)  # nothing was changed: no change to show
            if error.output:
                result["validator_output"] = error.output
            module.fail_json(msg="%s was not changed: %s" % (path, error), **result)
    # The text diff is no file-attribute diff: attributes report through "changed" (in
    # check mode Ansible only reports what it would change).
    result["changed"] = apply_file_attributes(module, path, result["changed"])
    return merged, result
