# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The honest file edit shared by the merge modules.

Read the file, let the caller compute the new text in memory, build a diff, validate the
candidate, and only then replace the target: temp file in the target's own directory,
``atomic_move``, then file attributes.  Any failure before the move leaves the target
byte-for-byte as it was.
"""

from __future__ import annotations

import os
import tempfile


class FileValidationError(Exception):
    """The candidate file was refused by its validator; ``output`` holds what it said."""

    def __init__(self, message, output=""):
        super().__init__(message)
        self.output = output


def read_text(path):
    """Return the file's text, or None when it does not exist.  Line endings are kept."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


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
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileValidationError("directory %s does not exist" % directory)
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
    if not os.path.exists(path):
        return changed
    file_args = module.load_file_common_arguments(module.params, path=path)
    return module.set_fs_attributes_if_different(file_args, changed, diff)
