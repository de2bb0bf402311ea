# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module that merges into a file the honest way has in common.

Use it beside ansible.builtin.files and ansible.builtin.action_common_attributes.  Its options
are those of ``MERGED_FILE_OPTIONS`` in ``module_utils/managed_file.py`` (a unit test keeps the
two equal); a module says in its own words what O(path), O(state) and O(exclusive) mean for
its entries.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  path:
    description:
      - The file to merge into; it is created when entries are to be added and it does not exist.
    type: path
    required: true
  state:
    description:
      - V(present) adds the entries that are missing, V(absent) removes those that mean the same.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - With O(state=present), make the file hold only the given entries. Refused with O(state=absent).
    type: bool
    default: false
  backup:
    description:
      - Create a backup file including the timestamp information so you can get the original
        file back if you somehow clobbered it incorrectly.
    type: bool
    default: false
notes:
  - A symbolic link at O(path) is followed - the file it points to is changed, the link stays.
  - The directory and the O(mode), O(owner) and O(group) options are checked before anything is
    written; a bad value fails the task with the file as it was. So is whether the file can be
    written at all - a directory or file made immutable (C(chattr +i)) or on a read-only file
    system fails the task, naming it. In check mode a bad O(mode) fails too, while a missing or
    unwritable directory, user or group is only warned about (an earlier task that check mode
    skipped, such as a package's installation, may create it).
  - A O(path) that is a directory, not a regular file (a FIFO, a device), or not UTF-8 text fails
    the task, naming it; so does a file that is not of the module's kind at all (a link to
    C(/etc/shadow)), in check mode and with O(state=absent) too, without showing a line of it.
  - A file larger than 16 MiB fails the task before it is read, naming its size - far more than
    any audit rules file, rsyslog drop-in or auditd configuration holds (500 times the largest
    public audit rule sets, about 250,000 rules).
  - Warnings quote lines of the file with every character that does not show (controls, line
    separators, zero-width and bidirectional marks) written as an escape.
  - The C(diff) is returned in diff mode only.
attributes:
  check_mode:
    support: full
    details: Returns the same C(changed) and diff as a real run, and writes nothing.
  diff_mode:
    support: full
  platform:
    platforms: posix
"""
