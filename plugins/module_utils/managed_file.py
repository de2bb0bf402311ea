# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The honest file edit shared by the merge modules.

Read the file, let the caller compute the new text in memory, build a diff, validate the
candidate, and only then replace the target: temp file in the target's own directory,
``atomic_move``, then file attributes.  Any failure before the move leaves the target
byte-for-byte as it was, so everything that can be checked beforehand (the directory, the
file attributes asked for) is checked before the move, in check mode too.

A symbolic link is followed: the file it points to is changed and the link stays.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import stat
import tempfile

# One clause of a symbolic mode, as Ansible's file attributes accept it (u+rw,g=r,o-rwx).
_SYMBOLIC_MODE_CLAUSE = re.compile(r"^[ugoa]*[-+=](?:[rwxXst]*|[ugo])$")


class FileValidationError(ValueError):
    """The file or the candidate cannot be used; ``output`` holds what a validator said."""

    def __init__(self, message, output=""):
        super().__init__(message)
        self.output = output


def resolved_path(path):
    """The file ``path`` names: the target of a symbolic link, else ``path`` itself."""
    return os.path.realpath(path) if os.path.islink(path) else path


def read_text(path):
    """Return the file's text, or None when it does not exist.  Line endings are kept.

    Raises :class:`FileValidationError` naming the file when it is a directory, not a
    regular file (a FIFO would block the read), unreadable, or not UTF-8 text.
    """
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise FileValidationError("cannot read %s: %s" % (path, error.strerror))
    if stat.S_ISDIR(status.st_mode):
        raise FileValidationError("%s is a directory, not a file" % path)
    if not stat.S_ISREG(status.st_mode):
        raise FileValidationError("%s is not a regular file" % path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
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


def _mode_problem(mode):
    if mode is None or isinstance(mode, int):
        return None
    text = str(mode)
    if re.match(r"^[0-7]+$", text):
        if int(text, 8) > 0o7777:
            return "mode %s is more than permission bits (at most 07777)" % text
        return None
    if not all(_SYMBOLIC_MODE_CLAUSE.match(clause) for clause in text.split(",")):
        return "mode %s is neither octal (0640) nor symbolic (u=rw,g=r,o=)" % text
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


def check_target(module, path):
    """Fail with what :func:`write_atomically` and the file attributes would fail on.

    Called before anything is written, so that a real run fails with the target untouched.
    In check mode a missing directory, user or group is only warned about: an earlier task
    that check mode skipped (a package's installation) may create it.
    """
    params = module.params
    mode_problem = _mode_problem(params.get("mode"))
    if mode_problem:
        raise FileValidationError(mode_problem)
    directory = os.path.dirname(os.path.abspath(resolved_path(path)))
    problems = [] if os.path.isdir(directory) else ["directory %s does not exist" % directory]
    problems += file_attribute_problems(None, params.get("owner"), params.get("group"))
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
    handle, temp_path = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as temp_file:
            temp_file.write(text)
            temp_file.flush()
            os.fsync(temp_file.fileno())
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
