"""The compact noise list drops exactly what the seed's list drops.

Both lists' rules are evaluated the way rsyslog does (``contains`` as a substring test,
``ereregex`` as a POSIX extended regex searched anywhere in the message; these patterns use
only alternation and groups, where Python's ``re`` agrees with POSIX ERE).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.seed_filters import (
    SEED_NOISE_GROUPS,
    compact_noise_filters,
    seed_noise_filters,
)
from tests.support.audit_records import dropped

PROGRAMS = sorted({name for _dirs, programs in SEED_NOISE_GROUPS for name in programs.split("|")})
DIRECTORIES = sorted({name for dirs, _programs in SEED_NOISE_GROUPS for name in dirs.split("|")})


RECORDS = [
    'type=SYSCALL msg=audit(1.1:2): arch=c000003e syscall=59 success=yes comm="ls" exe="/usr/bin/ls" key="exec"',
    'type=EXECVE msg=audit(1.1:2): argc=2 a0="grep" a1="root"',
    'type=PATH msg=audit(1.1:2): item=0 name="/usr/bin/id" inode=1',
    'type=SYSCALL msg=audit(1.1:3): comm="id" exe="/usr/bin/id" key="exec"',
    'type=EXECVE msg=audit(1.1:3): argc=2 a0="curl" a1="http://example.com/x.sh"',
    'type=SYSCALL msg=audit(1.1:4): comm="fstab_import" exe="/lib/udev/fstab_import"',
    'type=SYSCALL msg=audit(1.1:5): comm="grep" exe="/usr/sa/grep"',
    'type=EXECVE msg=audit(1.1:6): argc=1 a0="lsblk"',
    'type=EXECVE msg=audit(1.1:7): argc=1 a0="shadow"',
]


def test_recorded_messages_are_judged_alike():
    for message in RECORDS:
        assert dropped(compact_noise_filters(), message) == dropped(seed_noise_filters(), message), message


def test_compact_list_is_two_rules_path_records_first():
    rules = compact_noise_filters()
    assert len(rules) == 2 < len(seed_noise_filters())
    assert rules[0] == {"property": "msg", "operator": "contains", "value": "type=PATH", "action": "stop"}


names = st.one_of(st.sampled_from(PROGRAMS), st.text("abcdeghilmnoprstuwxyz_-", min_size=1, max_size=8))
directories = st.one_of(st.sampled_from(DIRECTORIES + ["usr/local/bin", "opt"]), st.text("abinsu/", max_size=6))


@given(kind=st.sampled_from(["SYSCALL", "EXECVE", "PATH", "CWD"]), directory=directories, name=names,
       quoted=st.booleans())
def test_any_record_is_judged_alike(kind, directory, name, quoted):
    body = f'a0="{name}"' if quoted else f'exe="/{directory}/{name}"'
    message = f"type={kind} msg=audit(1.1:9): {body}"
    assert dropped(compact_noise_filters(), message) == dropped(seed_noise_filters(), message)


def test_kept_programs_are_not_dropped_and_the_rest_still_are():
    kept = compact_noise_filters(keep=("cat",))
    assert not dropped(kept, 'type=EXECVE msg=audit(1.1:9): argc=2 a0="cat" a1="/etc/shadow"')
    assert not dropped(kept, 'type=SYSCALL msg=audit(1.1:9): comm="cat" exe="/usr/bin/cat" key="exec"')
    for program in PROGRAMS:
        if program != "cat":
            assert dropped(kept, f'type=EXECVE msg=audit(1.1:9): argc=1 a0="{program}"'), program
