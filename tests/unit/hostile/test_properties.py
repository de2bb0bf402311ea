"""Property tests over the classes of input that found the hostile-input bugs: Unicode line and
format characters, special files and links in every path option, extreme and malformed
timestamps, and regular expressions checked against the C library's regcomp.

Each property is bounded (max_examples, deadline) so that the file runs in seconds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import os
import tempfile
import threading

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.merge import (
    merge_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.parser import (
    parse_rule,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.rules_file import (
    parse_rules_text,
    read_line,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    EventAssembler,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    ReportError,
    format_table,
    parse_time_bound,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    classify,
    compile_risk_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk_rules import (
    SHIPPED_RISK_RULES,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.schema import (
    LATEST_EPOCH,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.alert_policy import (
    alert_text,
    make_alert,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.processor import (
    main as processor_main,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.settings import (
    ProcessorConfigError,
    read_config,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.wall_screen import (
    WallState,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.merge import (
    merge_filter_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.model import (
    FilterSyntaxError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.parser import (
    parse_config,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.requested import (
    filter_rule_from_spec,
    writable_filter_rule,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.base import (
    EventStoreError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.jsonl import (
    JsonLinesStore,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils.managed_file import (
    FileValidationError,
)
from ansible_collections.whotouched.server_audit.plugins.modules import (
    audit_report,
    audit_rules,
    rsyslog_filter,
)
from tests.support.audit_records import exec_records, stored
from tests.support.module_main import run_main

BOUNDED = settings(max_examples=60, deadline=5000,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
RULES = compile_risk_rules(SHIPPED_RISK_RULES)

# Characters some reader takes for a line end, a blank or nothing at all.
LINE_AND_FORMAT = ["\u2028", "\u2029", "\x0c", "\x0b", "\x85", "\x1c", "\x1d", "\x1e", "\r",
                   "\t", "\x00", "\u200b", "\u200f", "\u061c", "\ufeff", "\u2060", "\U000e0041",
                   "\u202e", "\x1b", "\x9b"]
tricky = st.sampled_from(LINE_AND_FORMAT)
RULE_TEXTS = ["-w /etc/passwd -p wa -k identity", "-e 2", "-D", "-b 8192",
              "-a always,exit -F arch=b64 -S execve -F key=exec", "-a never,exit -F arch=b64 -S all"]


def _mixed(words):
    """Text made of ``words`` with the tricky characters anywhere between them."""
    return st.lists(st.one_of(st.sampled_from(words), tricky, st.just(" ")), max_size=8).map(
        "".join)


# ---------------------------------------------------------------- lines, as auditctl reads them

def auditctl_reads(text):
    """The lines ``auditctl -R`` executes, by number, modelled on its fileopt() and nothing of
    the module: fgets into 6144 bytes, cut at the first newline, a NUL ends the string, a line of
    spaces or one whose first word begins with # is skipped."""
    data = text.encode("utf-8")
    physical = data.split(b"\n")
    if physical and physical[-1] == b"":
        physical.pop()
    executed = {}
    for number, line in enumerate(physical, start=1):
        for start in range(0, max(len(line), 1), 6143):
            seen = line[start:start + 6143].split(b"\x00", 1)[0]
            if seen.lstrip(b" ")[:1] not in (b"", b"#"):
                executed.setdefault(number, seen.decode("utf-8", "replace"))
    return executed


LONG_LINES = ["#" + "x" * 6142 + "-e 2", "#" * 7000, "# " + "\u2028" * 3000 + " -e 2",
              "-w /" + "a" * 7000, "#" + "x" * 6142 + " \x00-e 2"]
rules_file_text = st.lists(st.one_of(_mixed(RULE_TEXTS + ["#", "# off:", "-w", "/etc/x"]),
                                     st.sampled_from(RULE_TEXTS + LONG_LINES)), max_size=10).map(
    lambda lines: "".join(line + "\n" for line in lines))


@BOUNDED
@given(rules_file_text)
def test_no_line_auditctl_executes_is_taken_for_a_comment_and_rules_mean_what_it_reads(text):
    lines = parse_rules_text(text)
    executed = auditctl_reads(text)
    assert {number for number, line in enumerate(lines, 1) if line.rule or line.error} \
        == set(executed)
    for number, line in enumerate(lines, 1):
        if line.rule is not None:
            assert parse_rule(executed[number]) == line.rule


@BOUNDED
@given(rules_file_text, st.lists(st.sampled_from(RULE_TEXTS[:1] + RULE_TEXTS[4:]), max_size=3),
       st.sampled_from(["present", "absent"]))
def test_a_merge_keeps_every_other_line_byte_for_byte(text, wanted, state):
    try:
        result = merge_rules(text, [parse_rule(rule) for rule in wanted], state)
    except ValueError:  # a file of which no line is a rule: refused whole, nothing written
        assert not any(line.rule for line in parse_rules_text(text))
        return
    before = text.split("\n")[:-1] if text else []
    after = result.text.split("\n")[:-1] if result.text else []
    removed = {parse_rule(rule) for rule in result.removed}
    kept = [line for line in before if read_line(line).rule not in removed]
    assert [line for line in after if line not in result.added] == kept
    # what auditctl executes afterwards is what it executed before, plus the added rules
    assert sorted(auditctl_reads(result.text).values()) == sorted(
        [executed for number, executed in auditctl_reads(text).items()
         if before[number - 1] in kept] + result.added)


drop_in_text = st.lists(st.one_of(
    _mixed(["#", "# off:", ':msg, contains, "x" stop', "$FileOwner root", "*.* /var/log/a"]),
    st.sampled_from([':msg, contains, "keep" stop', "# comment", ""])), max_size=8).map(
    lambda lines: "".join(line + "\n" for line in lines))


@BOUNDED
@given(drop_in_text)
def test_rsyslog_chunks_are_whole_lines_split_at_newlines_only(text):
    chunks = parse_config(text)
    assert "".join(chunk.text for chunk in chunks) == text
    assert all(chunk.text.endswith("\n") for chunk in chunks)
    try:
        merged = merge_filter_rules(text, [filter_rule_from_spec(':msg, contains, "y" stop')])
    except FileValidationError as refusal:  # no rule in it, and a line rsyslog cannot begin with
        assert not any(chunk.rule for chunk in chunks) and str(refusal).isprintable()
        return
    assert merged.text in (text + ':msg, contains, "y" stop\n', text)


# ---------------------------------------------------------------- regexes, as regcomp reads them

def _regcomp():
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is None or not hasattr(libc, "regcomp"):
        pytest.skip("no C library with regcomp to compare with")

    def compiles(pattern, extended):
        compiled = ctypes.create_string_buffer(1024)
        if libc.regcomp(compiled, pattern.encode("utf-8"), 1 if extended else 0) != 0:
            return False
        libc.regfree(compiled)
        return True
    return compiles


@settings(max_examples=300, deadline=5000)
@given(st.text(st.sampled_from("a(){}[]^$*+?|\\:.=,12-"), min_size=1, max_size=10),
       st.booleans())
def test_a_regex_is_refused_exactly_when_regcomp_refuses_it(pattern, extended):
    # a value ending with a backslash is refused on its own (the module does not write one)
    assume(not pattern.endswith("\\"))
    try:
        writable_filter_rule(filter_rule_from_spec({"operator": "ereregex" if extended else "regex",
                                                    "value": pattern, "action": "stop"}))
        refused = False
    except FilterSyntaxError as error:
        refused = True
        assert "cannot be compiled: regcomp says:" in str(error)
    assert refused is not _regcomp()(pattern, extended)


# ---------------------------------------------------------------- stamps and times

digits = st.text(st.sampled_from("0123456789"), min_size=1, max_size=30)
stamps = st.one_of(
    st.builds("{}.{}:{}".format, digits, st.text(st.sampled_from("0123456789"), max_size=12),
              digits),
    st.builds("{}.{}:{}".format, st.sampled_from(["-1", "+5", "1_0", " 7", "\u0661", "nan",
                                                  "9" * 5000, "1e9"]),
              st.sampled_from(["000", "", "9" * 400]), st.sampled_from(["1", "x", "-1"])),
    st.text(max_size=20))
record_types = st.sampled_from(["SYSCALL", "EXECVE", "PATH", "CWD", "PROCTITLE", "EOE",
                                "USER_CMD", "USER_LOGIN", "X"])
bodies = _mixed(['exe="/bin/sh"', "auid=1000", "a0=6C73", "argc=1", "key=", "x=\x1b[2J",
                 "msg='op=x acct=\"root\"'", "#035", "\x1d", "AUID=\"al\""])


@st.composite
def hostile_lines(draw):
    record = "type=%s msg=audit(%s): %s" % (draw(record_types), draw(stamps), draw(bodies))
    return draw(st.sampled_from(["{r}", "node=web{t} {r}", "Nov 14 22:13:20 web{t} 192.0.2.1 {r}",
                                 "Nov 14 22:13:20 192.0.2.1 tag{t}: {r}"])).format(
        r=record, t=draw(tricky))


@BOUNDED
@given(st.lists(hostile_lines(), max_size=12))
def test_no_line_stops_the_reader_and_what_it_gives_out_shows_every_character(lines):
    good = stored(exec_records(["id"], serial=1))
    assembler = EventAssembler(wait_seconds=1.0)
    events = list(assembler.feed_lines(good + lines)) + assembler.flush()
    assert any(event["argv"] == ["id"] for event in events)
    wall = WallState()
    for event in events:
        assert event["epoch"] is None or 0 <= event["epoch"] <= LATEST_EPOCH + 1
        classify(event, RULES)
        wall.add(event)
        alert = make_alert("alert", event, event["level"], 1)
        assert alert_text(alert).isprintable()
    assert all(line.isprintable() for line in format_table(events, width=1000))
    assert all(row[name].isprintable() for row in wall.snapshot()["events"]
               for name in ("host", "what") if row[name])


@settings(max_examples=300, deadline=5000)
@given(st.one_of(st.text(max_size=30), digits, st.floats().map(repr),
                 st.builds("{}-{}-{}T{}:{}:{}{}".format, digits, digits, digits, digits, digits,
                           digits, st.sampled_from(["", "Z", "+02:00", "-0530", "+99:99"]))))
def test_a_time_bound_is_a_time_from_1970_to_9999_or_refused(text):
    try:
        epoch = parse_time_bound(text, now=1700000000.0)
    except ReportError:
        return
    assert epoch is None or 0 <= epoch <= LATEST_EPOCH


# ---------------------------------------------------------------- special files in path options

SECRET = "root:$6$Secret$Hash:19000:0:99999:7:::\n"
KINDS = ["fifo", "link to a fifo", "link to /dev/zero", "link to /dev/null", "directory",
         "dangling link", "link to a secret file"]


def _make(kind, path, work):
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "link to a fifo":
        os.mkfifo(os.path.join(work, "fifo"))
        os.symlink(os.path.join(work, "fifo"), path)
    elif kind.startswith("link to /dev/"):
        os.symlink(kind[len("link to "):], path)
    elif kind == "directory":
        os.mkdir(path)
    elif kind == "dangling link":
        os.symlink(os.path.join(work, "nothing"), path)
    else:
        with open(os.path.join(work, "secret"), "w", encoding="utf-8") as handle:
            handle.write(SECRET)
        os.symlink(os.path.join(work, "secret"), path)


def _outcome(function):
    """What ``function()`` returned or raised, failing when it does not return (it hangs)."""
    outcome = {}

    def call():
        try:
            outcome["value"] = function()
        except Exception as error:  # pylint: disable=broad-except
            outcome["error"] = error

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(60)
    assert outcome, "it did not return: it hangs"
    return outcome


def _module(module, **args):
    return lambda: run_main(module, args)[1]


def _uses(option, path, work):
    """A call that hands ``path`` to ``option``."""
    logs = os.path.join(work, "logs")
    os.makedirs(logs, exist_ok=True)
    rules = os.path.join(work, "50.rules")
    return {
        "audit_rules path": _module(audit_rules, path=path, rules=["-w /etc/hosts -p wa"]),
        "audit_rules path, absent": _module(audit_rules, path=path, state="absent",
                                            rules=["-w /etc/hosts -p wa"]),
        "rsyslog_filter path": _module(rsyslog_filter, path=path, validate=False,
                                       filters=[':msg, contains, "x" stop']),
        "rsyslog_filter main_config": _module(rsyslog_filter, path=os.path.join(work, "10.conf"),
                                              main_config=path, filters=[':msg, contains, "x" stop']),
        "audit_report path": _module(audit_report, path=path),
        "audit_report rules_file": _module(audit_report, path=logs, rules_file=path),
        "processor store": lambda: JsonLinesStore(path),
        "processor configuration": lambda: processor_main(["--check", path]),
        "processor ca_file": lambda: read_config(
            {"webhooks": [{"url": "https://127.0.0.1/", "ca_file": path}]}),
    }[option], rules


OPTIONS = ["audit_rules path", "audit_rules path, absent", "rsyslog_filter path",
           "rsyslog_filter main_config", "audit_report path", "audit_report rules_file",
           "processor store", "processor configuration", "processor ca_file"]


# Every pair is tried: Hypothesis exhausts a search space this small.
@settings(max_examples=len(OPTIONS) * len(KINDS) * 2, deadline=None)
@given(st.sampled_from(list(itertools.product(OPTIONS, KINDS))))
def test_a_special_file_or_link_in_a_path_option_never_hangs_leaks_or_is_changed(case):
    option, kind = case
    with tempfile.TemporaryDirectory(prefix="hostile-") as work:
        path = os.path.join(work, "target")
        _make(kind, path, work)
        call, _rules = _uses(option, path, work)
        outcome = _outcome(call)
        assert "Secret" not in repr(outcome), "%s shows the file a link points to" % option
        if os.path.exists(os.path.join(work, "secret")):
            with open(os.path.join(work, "secret"), encoding="utf-8") as handle:
                assert handle.read() == SECRET, "%s changed the file a link points to" % option
        error = outcome.get("error")
        assert error is None or isinstance(error, (EventStoreError, ProcessorConfigError,
                                                   OSError)), repr(error)
