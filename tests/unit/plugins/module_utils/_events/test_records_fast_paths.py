"""The event library's fast paths give exactly what its general paths give.

The common record shapes (the kernel's SYSCALL layout with auditd's names, one EXECVE record,
quoted ASCII text, whole blocks of lines) take shortcuts; any input, however odd, must come
out the same as through the general parsing.
"""

from __future__ import annotations

import io
import re
import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ansible_collections.whotouched.server_audit.plugins.module_utils._events import (
    assembler as assembler_module,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events import records
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    EventAssembler,
    iter_events,
    iter_lines,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.records import (
    build_event,
    decode_text,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.schema import (
    format_time,
)

STAMP = "1700000000.123:42"

# Pieces that sit on the fast paths' edges: quotes, blanks, separators, escapes, names.
TRICKY = st.sampled_from(['"', "'", " ", "  ", "\t", "=", "#035", "\x1d", "(null)", "?", "x",
                          "0", "é", "\x00", "AUID=", " key=", " auid=5", "\x85", "\u00a0"])
VALUE = st.one_of(
    st.text(alphabet="abc019/_-.:()", max_size=6),
    st.builds(lambda text: '"%s"' % text, st.text(alphabet="ab /#035'\"=é", max_size=6)),
    st.builds(lambda data: data.hex().upper(), st.binary(max_size=6)),
    st.lists(TRICKY, max_size=3).map("".join),
    st.sampled_from(["'x", "'", "x'y", "'a=b", "msg='a=b", "a0=x"]),
)


PLAIN = st.sampled_from(["0", "1000", "4294967295", "-1", "pts0", "(none)", '"bash"',
                         "2F746D702F6120622E7368", "c000003e", "59", "yes", "no", "(null)", "",
                         "2", "257", "10800", "241"])


@st.composite
def syscall_bodies(draw):
    """SYSCALL bodies in the kernel's layout, with or without names, then perhaps damaged."""
    names = ["arch", "syscall"] + draw(st.sampled_from([[], ["per"]])) + draw(
        st.sampled_from([[], ["success", "exit"]])) + [
        "a0", "a1", "a2", "a3", "items", "ppid", "pid", "auid", "uid", "gid", "euid", "suid",
        "fsuid", "egid", "sgid", "fsgid", "tty", "ses", "comm", "exe"] + draw(
        st.sampled_from([[], ["subj"]])) + ["key"]
    values = [draw(PLAIN) for _name in names]
    for _odd in range(draw(st.integers(0, 3))):  # a few odd values among plain ones
        values[draw(st.integers(0, len(values) - 1))] = draw(VALUE)
    body = " ".join("%s=%s" % pair for pair in zip(names, values))
    users = " ".join('%s="%s"' % (name, draw(st.sampled_from(["root", "alice", "unset", ""])))
                     for name in ("AUID", "UID", "GID", "EUID", "SUID", "FSUID", "EGID", "SGID",
                                  "FSGID"))
    users = "ARCH=%s SYSCALL=%s %s" % (draw(st.sampled_from(["x86_64", "i386"])),
                                       draw(st.sampled_from(["execve", "openat"])), users)
    body += draw(st.sampled_from(["", "\x1d" + users, " " + users, "#035" + users]))
    for _edit in range(draw(st.integers(0, 2))):
        position = draw(st.integers(0, len(body)))
        cut = draw(st.integers(0, 3))
        body = body[:position] + draw(TRICKY) + body[position + cut:]
    return body


# A file the system call named: the operation on it reads the SYSCALL record's arguments.
PATH_RECORD = ("PATH", 'item=0 name="/etc/x" nametype=NORMAL')


def _general_syscall_event(body, local_names=None):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(records, "_syscall_fields", records._who_fields)
        return build_event(STAMP, [("SYSCALL", body), PATH_RECORD], local_names=local_names)


@given(syscall_bodies())
@example("arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=2 ppid=1 pid=2 "
         "auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 "
         "comm=\"id\" exe=\"/usr/bin/id\" key=#035")  # an escaped separator with no names after it
@settings(max_examples=800, deadline=None)
def test_syscall_fast_path_is_the_general_parse(body):
    fast = build_event(STAMP, [("SYSCALL", body), PATH_RECORD], local_names={0: "root"})
    assert fast == _general_syscall_event(body, local_names={0: "root"})


@pytest.mark.parametrize("names_after", ["", "\x1d", " ", "#035"])
def test_syscall_fast_path_reads_the_kernel_layout(names_after):
    body = ('arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=8 items=2 ppid=4200 '
            'pid=4242 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 '
            'tty=pts0 ses=3 comm="id" exe="/usr/bin/id" subj=unconfined key="exec"')
    if names_after:
        body += (names_after + 'ARCH=x86_64 SYSCALL=execve AUID="alice" UID="root" GID="root" '
                 'EUID="root" SUID="root" FSUID="root" EGID="root" SGID="root" FSGID="root"')
    assert records._SYSCALL_RECORD.fullmatch(body.replace("#035", "\x1d"))
    event = build_event(STAMP, [("SYSCALL", body), PATH_RECORD])
    assert event == _general_syscall_event(body)
    assert (event["login_user"], event["user"], event["syscall"], event["exe"], event["key"]) == (
        ("alice", "root") if names_after else ("1000", "0")) + ("execve", "/usr/bin/id", "exec")


@given(st.lists(VALUE, max_size=6), st.one_of(st.none(), st.integers(-1, 8), VALUE),
       st.dictionaries(st.sampled_from(["a1_len", "a01", "a0[0]", "a9", "x"]), VALUE,
                       max_size=2))
@settings(max_examples=1000, deadline=None)
def test_one_execve_record_fast_path_is_the_general_path(arguments, argc, extra):
    fields = {"a%d" % index: value for index, value in enumerate(arguments)}
    fields.update(extra)
    if argc is not None:
        fields["argc"] = str(argc)
    # An empty second record adds nothing, but takes the general path.
    assert records._argv_from_execve([fields]) == \
        records._argv_from_execve([fields, {}])


ANY_TEXT = st.text(alphabet=st.one_of(st.characters(), st.sampled_from("\ud800\udcff\x00\"é")),
                   max_size=8)


def _outcome(function, value):
    try:
        return function(value)
    except ValueError as error:  # a lone surrogate cannot be encoded: the line is malformed
        return type(error)


def _decoded_generally(value):
    raw = records._raw_bytes(value)
    return None if raw is None else raw.decode("utf-8", "backslashreplace")


@given(st.one_of(VALUE, ANY_TEXT.map(lambda text: '"%s"' % text), ANY_TEXT))
@settings(max_examples=1000, deadline=None)
def test_decode_text_fast_path_is_the_general_decoding(value):
    assert _outcome(decode_text, value) == _outcome(_decoded_generally, value)


def _split_by_scanning(body):
    """The ENRICHED split, one character at a time: the specification of _split_enriched."""
    position = body.find("\x1d")
    if position >= 0:
        return body[:position], body[position + 1:]
    quote = None
    for index, char in enumerate(body):
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif body.startswith("#035", index):
            return body[:index], body[index + 4:]
    return body, ""


@given(st.lists(st.sampled_from(['"', "'", "#035", "#03", "#", "\x1d", "a=b", " ", "x"]),
                max_size=12).map("".join))
@settings(max_examples=1000, deadline=None)
def test_escaped_separator_split_matches_the_scan(body):
    assert records._split_enriched(body) == _split_by_scanning(body)


@given(st.lists(st.sampled_from([b"\n", b"\r", b"\r\n", b"a", b"abc", b"\xc3\xa9", b"\xc3",
                                 b"\xa9", b"\xe2\x82", b"\xff", b"\xf0\x9f\x98\x80", b"\x00"]),
                max_size=40).map(b"".join),
       st.sampled_from([1, 2, 3, 7, 64, 1 << 20]), st.sampled_from([1, 3, 8, 65536]))
@settings(max_examples=1000, deadline=None)
def test_lines_decoded_by_block_are_lines_decoded_one_by_one(data, chunk_size, max_line):
    counts = {}
    lines = list(iter_lines(io.BytesIO(data), counts, max_line=max_line, chunk_size=chunk_size))
    pieces = data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()
    assert lines == [piece.decode("utf-8", "replace").rstrip("\r") for piece in pieces
                     if len(piece) <= max_line]
    assert counts.get("oversized", 0) == sum(len(piece) > max_line for piece in pieces)


@given(st.lists(st.floats(min_value=0, max_value=4e9, allow_nan=False), max_size=20))
@settings(max_examples=300, deadline=None)
def test_format_time_reuses_only_the_same_second(epochs):
    for epoch in sorted(epochs) + epochs:
        seconds = int(epoch)
        assert format_time(epoch) == "%s.%03dZ" % (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)),
            int(round((epoch - seconds) * 1000)) % 1000)


def test_a_stamp_with_bad_milliseconds_is_malformed_not_a_crash_at_the_end():
    assembler = EventAssembler()
    found = list(iter_events(["type=SYSCALL msg=audit(1700000000.1x:5): arch=c000003e "
                              "syscall=59"], assembler))
    assert found == [] and assembler.counts["malformed"] == 1


@st.composite
def path_bodies(draw):
    """PATH bodies in the kernel's layout (with or without inode fields, obj, names after the
    separator), then perhaps damaged."""
    name = draw(st.one_of(VALUE, st.sampled_from(['"/etc/passwd"', "(null)", "2F61206220",
                                                  '"a"nametype=X', ""])))
    body = "item=%s name=%s " % (draw(st.sampled_from(["0", "1", "x", "name=a"])), name)
    if draw(st.booleans()):
        body += "inode=%s dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 " % draw(
            st.sampled_from(["1", "nametype=DELETE", "x"]))
    if draw(st.booleans()):
        body += "obj=system_u:object_r:etc_t:s0 "
    body += "%s=%s" % (draw(st.sampled_from(["nametype", "objtype"])), draw(st.one_of(
        st.sampled_from(["NORMAL", "PARENT", "CREATE", "", "#035", "x"]), VALUE)))
    body += draw(st.sampled_from(["", " cap_fp=0 cap_fi=0", "\x1dOUID=\"root\"",
                                  "#035OUID=\"root\"", " nametype=CREATE"]))
    for _edit in range(draw(st.integers(0, 2))):
        position = draw(st.integers(0, len(body)))
        body = body[:position] + draw(TRICKY) + body[position + draw(st.integers(0, 3)):]
    return body


@given(path_bodies())
@example('item=0 name="/etc/passwd" inode=1 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 '
         'nametype=NORMAL cap_fp=0\x1dOUID="root"')
@example("item=0 name=2F61#0352F62 nametype=NORMAL")  # an escaped separator in a bare name
@example("item=0 name=x nametype=NORMAL#035x\x1dy")
@settings(max_examples=1000, deadline=None)
def test_path_fast_path_is_one_field_of_each(body):
    nametype = records._one_field(body, "nametype")
    expected = (records._one_field(body, "item"), records._one_field(body, "name"),
                nametype if nametype is not None else records._one_field(body, "objtype"))
    assert records._path_fields(body) == expected


def test_path_fast_path_reads_the_kernel_layout():
    body = ('item=1 name="/etc/x" inode=3 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 '
            'nametype=CREATE cap_fp=0 cap_fi=0\x1dOUID="root" OGID="root"')
    assert records._PATH_RECORD.match(body)
    assert records._path_fields(body) == ("1", '"/etc/x"', "CREATE")


@given(st.lists(VALUE, max_size=5), st.one_of(st.none(), st.integers(-1, 7), VALUE),
       st.lists(st.sampled_from(["a1_len=3", "a0[0]=x", "a01=y", "x=1", "a0=z", "a9=1", "'",
                                 "\x1d", "#035", "  ", "argc=1"]), max_size=2))
@example(['"ls"', '"-l"'], 2, [])
@settings(max_examples=1000, deadline=None)
def test_one_execve_record_read_from_its_text_is_the_general_path(arguments, argc, extra):
    fields = ["a%d=%s" % pair for pair in enumerate(arguments)]
    if argc is not None:
        fields.insert(0, "argc=%s" % argc)
    body = " ".join(fields + extra)
    assert _outcome(records._execve_argv, body) == _outcome(
        lambda text: records._argv_from_execve([records.parse_fields(text)[0]]), body)


RAW_TYPES = st.sampled_from(["SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE", "EOE",
                             "BPRM_FCAPS", "USER_CMD"])


@st.composite
def raw_streams(draw):
    """Raw and stored lines of a few events, interleaved, some with odd stamps and prefixes."""
    lines = []
    for _line in range(draw(st.integers(0, 30))):
        stamp = draw(st.sampled_from(["1700000000.100:1", "1700000000.100:2", "1700000009.1:3",
                                      "1700000000.100:1)", "1700000000.100:", " 1700000000.1:1",
                                      "1700000000.100:1):x"]))
        prefix = draw(st.sampled_from(["", "", "", "node=a ", "Nov 14 22:13:20 h 10.0.0.1 ",
                                       "Nov 14 22:13:20 h 10.0.0.1 ", "Nov 14 22:13:21 h 10.0.0.1 ",
                                       "Nov 14 22:13:20 evil 10.0.0.1 ",
                                       "Nov 14 22:13:20 h 10.0.0.2 ",
                                       "Nov 14 22:13:20 10.0.0.1 audispd: ",
                                       "Nov 14 22:13:20 h 10.0.0.1 node=a ",
                                       "Nov 14 22:13:20xh 10.0.0.1 ", "Nov 14x22:13:20 h 10.0.0.1 "]))
        spacing = draw(st.sampled_from([" ", " ", "  ", ""]))
        body = draw(st.sampled_from([
            "arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=1 ppid=1 "
            "pid=2 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 "
            "ses=3 comm=\"id\" exe=\"/usr/bin/id\" key=\"exec\"",
            'argc=2 a0="ls" a1="-l"', 'cwd="/tmp"', 'item=0 name="/etc/x" nametype=NORMAL',
            "proctitle=6C73", "", "msg='cmd=6964 res=success'"]))
        lines.append("%stype=%s%smsg=audit(%s):%s" % (prefix, draw(RAW_TYPES), spacing, stamp,
                                                      " " + body if body else ""))
    return lines


@given(raw_streams(), st.sampled_from([1, 2, 1024]), st.sampled_from([8, 4 << 20]),
       st.sampled_from([1, 4096]), st.booleans(), st.sampled_from([1, 100000]))
@example([  # a record of another sender, with an address of the same length, in between
    "Nov 14 22:13:20 h 10.0.0.1 type=SYSCALL msg=audit(1700000000.100:1): arch=c000003e",
    'Nov 14 22:13:20 h 10.0.0.2 type=CWD msg=audit(1700000000.100:1): cwd="/tmp"',
    "Nov 14 22:13:20 h 10.0.0.1 type=PROCTITLE msg=audit(1700000000.100:1): proctitle=6C73"],
    1024, 4 << 20, 4096, True, 100000)
@settings(max_examples=1000, deadline=None)
def test_lines_fed_in_a_stream_are_lines_fed_one_by_one(
        lines, max_records, max_bytes, pending, fragments, remember):
    options = {"max_event_records": max_records, "max_event_bytes": max_bytes,
               "max_pending": pending, "now": 1700000000, "fragments": fragments,
               "remember": remember}
    streamed = EventAssembler(**options)
    found = list(streamed.feed_lines(lines)) + streamed.flush()
    one_by_one = EventAssembler(**options)
    expected = []
    for line in lines:
        expected.extend(one_by_one.feed(line))
    expected.extend(one_by_one.flush())
    assert found == expected
    assert streamed.counts == one_by_one.counts


@given(raw_streams(), st.sampled_from([1, 100000]))
@settings(max_examples=500, deadline=None)
def test_fragments_not_asked_for_are_counted_as_when_made(lines, remember):
    """A fragment not asked for is counted without its event being made: the counts and the
    other events are those of the fragments asked for, without the fragments."""
    options = {"now": 1700000000, "remember": remember}
    without = EventAssembler(**options)
    found = list(without.feed_lines(lines)) + without.flush()
    made = EventAssembler(fragments=True, **options)
    expected = [event for event in list(made.feed_lines(lines)) + made.flush()
                if event["kind"] != "fragment"]
    assert found == expected
    assert without.counts == dict(made.counts, events=made.counts["events"] -
                                  made.counts["fragments"])


# The end of a whole SYSCALL record as first written, with \b: the specification of the
# faster pattern.
_SYSCALL_END_WITH_BOUNDARIES = re.compile(r'(?:\bkey=(?:"[^"]*"|[^\s"]+)|\bFSGID="[^"]*")\s*\Z')


@given(syscall_bodies(), st.lists(st.sampled_from(["key=", "FSGID=", '"', "x", " ", "_", "é",
                                                   "\x1d", "\u00a0", "(null)", "7"]),
                                  max_size=8).map("".join), st.integers(0, 700))
@example('arch=c000003e key="akey=b', "", 0)
@example('key="a"key=b', "", 0)
@example("key=(null)", ' aFSGID="root"', 0)  # no word begins at FSGID or key: not an end
@example("key=(null)", ' x_key="exec"', 0)
@example("key=(null)", ' é key="exec"', 0)
@settings(max_examples=1000, deadline=None)
def test_syscall_end_is_the_search_with_word_boundaries(body, tail, padding):
    body = "x" * padding + body + tail
    assert records._syscall_whole([("SYSCALL", body)]) == (
        _SYSCALL_END_WITH_BOUNDARIES.search(body, max(0, len(body) - 640)) is not None)


@pytest.mark.parametrize("prefix", ["", "Nov 14 22:13:20 h 10.0.0.1 "])
def test_an_event_that_fails_to_be_made_at_its_end_is_counted_on_either_path(prefix):
    """Whatever making an event raises of the errors a hostile line can cause, the line that
    ended it is counted as malformed, on the shortcut as through feed, and the stream goes on."""
    lines = ["%stype=%s msg=audit(1700000000.100:%d): %s" % (prefix, record_type, serial, body)
             for serial in (1, 2) for record_type, body in (
                 ("SYSCALL", "arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 "
                             "items=1 ppid=1 pid=2 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 "
                             "egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"id\" exe=\"/bin/id\" "
                             "key=\"exec\""),
                 ("CWD", 'cwd="/tmp"'), ("PROCTITLE", "proctitle=6964"))]

    def failing_first(stamp, records, *args, **kwargs):
        if stamp.endswith(":1"):
            raise ValueError("a hostile record")
        return build_event(stamp, records, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(assembler_module, "build_event", failing_first)
        streamed = EventAssembler()
        found = list(streamed.feed_lines(lines)) + streamed.flush()
        one_by_one = EventAssembler()
        expected = []
        for line in lines:
            try:
                expected.extend(one_by_one.feed(line))
            except ValueError:
                one_by_one.counts["malformed"] += 1
        expected.extend(one_by_one.flush())
    assert [event["serial"] for event in found] == [event["serial"] for event in expected] == [2]
    assert streamed.counts == one_by_one.counts
    assert streamed.counts["malformed"] == 1 and streamed.counts["events"] == 1
