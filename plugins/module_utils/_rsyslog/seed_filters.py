# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The project's audit-noise filters, in the mapping form ``rsyslog_filter`` accepts.

The original article listed these as legacy rsyslog lines
(``:msg, ereregex, "(bin|sbin)\\/(sleep|ls|...)\\"" ~``).  Its text was scrambled by OCR
(spaces inside the regexes, lost quotes, a lost leading colon); they are repaired here by
their intent:

* the ``(dir)/(program)"`` family drops audit records that name a noisy program by path:
  the SYSCALL record's ``exe="/usr/bin/ls"`` and the PATH record's ``name="/usr/bin/ls"``;
* the ``"(program)"`` family drops records that name it quoted: the EXECVE record's
  ``a0="ls"`` and the SYSCALL record's ``comm="ls"``;
* every PATH record is dropped;
* what is left of exec auditing (``key="exec"`` or ``type=EXECVE``) is forwarded.

Values are the strings rsyslog compares (unescaped); the serializer escapes them.  Order
matters: the drops come before the forward so that it never sees the noise.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

# (directory alternatives, program alternatives) of each noise group, as in the article
SEED_NOISE_GROUPS = (
    ("bin|sbin|sa", "ping|top|mpstat|iostat|iotop|vmstat|sar|sadc|sh"),
    ("sbin|udev", "fstab_import|udisks-part-id|path_id|edd_id|scsi_id"),
    ("bin|sbin", "tr|sort|wc|cut|awk|gawk|grep|fgrep|egrep|sed|head|tail|tailf"),
    ("bin|sbin", "sleep|ls|expr|nohup|date|cat|du|dirname|tar|gzip|df|sg_persist|ip"),
    ("bin|sbin", "basename|hostname|readlink|bc|touch|dmesg"),
    ("bin|sbin", "consoletype|blkid|lsblk"),
)

# what the forward keeps: exec-keyed SYSCALL records and the EXECVE argument records
SEED_FORWARD_VALUE = '(key="exec"|type=EXECVE)'


def seed_noise_filters() -> List[Dict]:
    """The drop rules, in order: program by path, program quoted, then PATH records."""
    by_path = [{"property": "msg", "operator": "ereregex",
                "value": '(%s)/(%s)"' % (directories, programs), "action": "stop"}
               for directories, programs in SEED_NOISE_GROUPS]
    quoted = [{"property": "msg", "operator": "ereregex",
               "value": '"(%s)"' % programs, "action": "stop"}
              for _directories, programs in SEED_NOISE_GROUPS]
    path_records = [{"property": "msg", "operator": "contains", "value": "type=PATH",
                     "action": "stop"}]
    return by_path + quoted + path_records


def compact_noise_filters(keep: Sequence[str] = ()) -> List[Dict]:
    """The same drops in two rules, cheapest first: every PATH record (a substring test),
    then one regex, the alternation of both families' groups.

    A message dropped by one list is dropped by the other; rsyslog evaluates two rules per
    message instead of thirteen.  Programs named in ``keep`` are not dropped.
    """
    groups = [(directories, "|".join(name for name in programs.split("|") if name not in keep))
              for directories, programs in SEED_NOISE_GROUPS]
    groups = [group for group in groups if group[1]]
    by_path = "|".join("(%s)/(%s)" % group for group in groups)
    quoted = "|".join(programs for _directories, programs in groups)
    return [
        {"property": "msg", "operator": "contains", "value": "type=PATH", "action": "stop"},
        {"property": "msg", "operator": "ereregex", "value": '(%s)"|"(%s)"' % (by_path, quoted),
         "action": "stop"},
    ]


def seed_filters(target: str, port: int = 514, protocol: str = "tcp") -> List[Dict]:
    """The whole seed list: the drops, then the reliable forward of exec records."""
    return seed_noise_filters() + [{
        "property": "msg", "operator": "ereregex", "value": SEED_FORWARD_VALUE,
        "action": "forward", "target": target, "port": port, "protocol": protocol,
    }]
