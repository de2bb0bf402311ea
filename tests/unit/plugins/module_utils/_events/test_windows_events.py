"""Windows Security events read in the host's display language, from real localized messages.

The messages and templates are real (fixtures/windows_events/README.md cites each).  They go
the way evtsys sends them: collapsed and cut as the model of evtsys (tests/support/
evtsys_model.py) says its source does, stored as the log server stores them, then read back
by the event library.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.whotouched.server_audit.plugins.module_utils._events import windows_events as we
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    iter_events,
    iter_lines,
)
from tests.support import evtsys_model
from tests.support.audit_records import evtsys, stored_evtsys

SAMPLES = json.loads((Path(__file__).parent / "fixtures" / "windows_events" / "samples.json")
                     .read_text(encoding="utf-8"))
MESSAGES = [sample for sample in SAMPLES if sample["kind"] == "message"]
TEMPLATES = [sample for sample in SAMPLES if sample["kind"] == "template"]
READ = ("account", "target_account", "source_address", "workstation")
SETTINGS = evtsys_model.Settings(log_hosts=["192.0.2.1"], port=514, facility=3, log_level=0,
                                 tag=None, tcp=False, include_only=False, query_dhcp=False,
                                 use_ip_address=False, status_interval=0, unread=[])


def sample(sample_id):
    return next(item for item in SAMPLES if item["id"] == sample_id)


def sent(item, computer="DC01", size=evtsys_model.SYSLOG_DEF_SZ):
    """The UTF-16 text evtsys converts and sends for a sample (before the UTF-8 conversion)."""
    return evtsys_model.syslog_text(
        SETTINGS, "Nov 14 22:13:20", computer, "Security-Auditing", item["event_id"],
        evtsys_model.collapse_message(item["text"], size), audit_failure=not item["success"],
        size=size)


def read_back(payload):
    """The events the log server reads from the stored form of an evtsys datagram."""
    return list(iter_events(iter_lines(io.BytesIO(stored_evtsys(payload) + b"\n"))))


def fields_of(event):
    return {name: event[name] for name in READ}


@pytest.mark.parametrize("item", MESSAGES, ids=lambda item: item["id"])
def test_real_messages_are_read_in_their_language(item):
    """Each real message, sent whole by the LP build, gives the names it holds."""
    payload = evtsys_model.utf8_payload(sent(item, size=evtsys_model.LP_SYSLOG_SZ),
                                        evtsys_model.LP_SYSLOG_SZ)
    events = read_back(payload)
    assert len(events) == 1
    event = events[0]
    assert fields_of(event) == item["expected"]
    assert (event["event_id"], event["success"], event["truncated"], event["complete"]) == (
        item["event_id"], item["success"], False, True)


def canonical(text):
    return [(section, name) for section, name, _value in we.read_fields(
        evtsys_model.collapse_message(text, evtsys_model.LP_SYSLOG_SZ))]


def common_order(first, second):
    both = set(first) & set(second)
    return [entry for entry in first if entry in both] == [entry for entry in second if entry in both]


@pytest.mark.parametrize("event_id", [4624, 4625])
def test_translations_keep_the_fields_and_their_order(event_id):
    """Every label of every real message and template of an event is known, and the fields
    they share come in the same order in every language."""
    texts = [item for item in SAMPLES if item["event_id"] == event_id]
    assert len({item["language"] for item in texts}) >= 3
    read = {item["id"]: canonical(item["text"]) for item in texts}
    for item in texts:
        for other in texts:
            assert common_order(read[item["id"]], read[other["id"]]), (item["id"], other["id"])
        assert ("Subject", "Account Name") in read[item["id"]], item["id"]


def insertion_strings(text):
    return {(section, name): value for section, name, value in we.read_fields(
        evtsys_model.collapse_message(text, evtsys_model.LP_SYSLOG_SZ))}


def test_the_same_field_holds_the_same_insertion_string_in_every_language():
    """In Windows' own message templates a field keeps its %n (the event's data item) from
    one language to the next: the names read here mean the same data everywhere."""
    spanish = insertion_strings(sample("es-4624-template")["text"])
    japanese = insertion_strings(sample("ja-4624-template")["text"])
    shared = set(spanish) & set(japanese)
    assert len(shared) >= 19
    assert {key: spanish[key] for key in shared} == {key: japanese[key] for key in shared}
    assert (spanish[("Subject", "Account Name")], spanish[("New Logon", "Account Name")],
            spanish[("Network Information", "Source Network Address")]) == ("%2", "%6", "%19")
    german = insertion_strings(sample("de-4688-template")["text"])
    assert (german[("Subject", "Account Name")], german[("Target Subject", "Account Name")],
            german[("Process Information", "Process Command Line")]) == ("%2", "%11", "%9!S!")


@pytest.mark.parametrize("item", [item for item in MESSAGES if item["event_id"] in we.SUBJECT_THEN_TARGET],
                         ids=lambda item: item["id"])
def test_without_the_sections_names_the_position_finds_who_acted_on_whom(item):
    """A language whose section names the tables lack still gives the account acting and the
    account acted on, by their place in the template."""
    fields = [(None, name, value) for _section, name, value in we.read_fields(
        evtsys_model.collapse_message(item["text"], evtsys_model.LP_SYSLOG_SZ))]
    found = we.security_event_fields(item["event_id"], fields)
    assert (found["account"], found["target_account"]) == (
        item["expected"]["account"], item["expected"]["target_account"])


def test_every_localized_label_comes_from_a_real_text_of_its_language():
    """The tables hold nothing invented: each label is read from a stored real message or
    template of its language, where it stands before a colon."""
    for language, table in we.LABELS.items():
        texts = [we.normalized(item["text"]) for item in SAMPLES if item["language"] == language]
        for label in table:
            assert any(re.search(r"(^|\s)%s ?:" % re.escape(we.normalized(label)), text)
                       for text in texts), (language, label)


def test_a_label_means_one_thing_in_every_language():
    meanings = {}
    for table in list(we.LABELS.values()) + [{name: name for name in we.SECTIONS + we.FIELDS}]:
        for label, name in table.items():
            assert meanings.setdefault(we.normalized(label), name) == name, label


@pytest.mark.parametrize("event_id, text, account, target", [
    (4740, "A user account was locked out. Subject: Security ID: S-1-5-18 Account Name: DC01$ "
     "Account Domain: CORP Logon ID: 0x3E7 Account That Was Locked Out: Security ID: CORP\\bob "
     "Account Name: bob Additional Information: Caller Computer Name: WS07", "DC01$", "bob"),
    (4741, "A computer account was created. Subject: Security ID: CORP\\admin Account Name: admin "
     "Account Domain: CORP Logon ID: 0x3E7 New Computer Account: Security ID: CORP\\WS08$ Account "
     "Name: WS08$ Account Domain: CORP Attributes: SAM Account Name: WS08$", "admin", "WS08$"),
    (4768, "A Kerberos authentication ticket (TGT) was requested. Account Information: Account Name: "
     "bob Supplied Realm Name: CORP User ID: CORP\\bob", "bob", None),
])
def test_english_sections_the_tables_lack_are_read_by_position(event_id, text, account, target):
    found = we.security_event_fields(event_id, we.read_fields(text))
    assert (found["account"], found["target_account"]) == (account, target)


# --- Cut messages

COMPUTER_NAMES = ["D", "DC01", "FILESERVER-0042", "A" * 15]


@pytest.mark.parametrize("computer", COMPUTER_NAMES)
def test_a_message_cut_at_1024_bytes_keeps_the_fields_before_the_cut(computer):
    """The standard build cuts the (ASCII) English 4624 at 1023 characters: what came before
    is read, the event is marked truncated and incomplete."""
    item = sample("en-4624")
    payload = evtsys_model.utf8_payload(sent(item, computer), evtsys_model.SYSLOG_DEF_SZ)
    assert len(payload) == evtsys_model.SYSLOG_DEF_SZ - 1
    event = read_back(payload)[0]
    assert fields_of(event) == item["expected"]
    assert (event["truncated"], event["complete"]) == (True, False)
    assert len(event["message"]) < len(evtsys_model.collapse_message(item["text"], 4096))


@pytest.mark.parametrize("computer", COMPUTER_NAMES)
@pytest.mark.parametrize("sample_id", ["fr-4624", "fr-4625", "fr-4738"])
def test_a_localized_message_cut_in_the_buffer_keeps_the_fields_before_the_cut(sample_id, computer):
    """In the standard build a localized message whose UTF-8 form exceeds 1024 bytes makes
    the conversion fail (the model cannot say what is sent then); whatever first part of the
    filled buffer arrives, cut anywhere in the last 64 bytes and even inside a character,
    the fields before the cut are read unchanged and the event is marked truncated."""
    item = sample(sample_id)
    text = sent(item, computer)
    assert evtsys_model.utf8_payload(text) is None
    whole = read_back(evtsys_model.utf8_payload(sent(item, computer, 4096), 4096))[0]
    buffer = text.encode("utf-8")[:evtsys_model.SYSLOG_DEF_SZ]
    for length in range(evtsys_model.SYSLOG_DEF_SZ - 64, evtsys_model.SYSLOG_DEF_SZ + 1):
        event = read_back(buffer[:length])[0]
        if not event["truncated"]:
            continue
        for name in READ:
            assert event[name] in (None, whole[name]), (length, name, event[name])
    assert read_back(buffer)[0]["truncated"] and read_back(buffer[:-1])[0]["truncated"]
    assert fields_of(read_back(buffer)[0]) == item["expected"]


def test_the_field_the_cut_runs_through_is_not_read():
    """fr-4738 cut at 1024 bytes ends inside its list of changed attributes: every field read
    is the whole message's, and the one the cut shortened is left out."""
    item = sample("fr-4738")
    whole = we.read_fields(evtsys_model.collapse_message(item["text"], 4096))
    cut_text = sent(item).encode("utf-8")[:evtsys_model.SYSLOG_DEF_SZ].decode("utf-8", "replace")
    body = cut_text.split(" ", 4)[4]
    read = we.read_fields(body.split("AUDIT_SUCCESS ", 1)[1])
    assert we.evtsys_cut("daemon.notice<29>", body)
    assert 5 < len(read) < len(whole) and read[:-1] == whole[:len(read) - 1]
    assert read[-1] != whole[len(read) - 1]


@pytest.mark.parametrize("computer", COMPUTER_NAMES)
@pytest.mark.parametrize("item", MESSAGES, ids=lambda item: item["id"])
def test_a_whole_message_is_not_marked_truncated(item, computer):
    payload = evtsys_model.utf8_payload(sent(item, computer, 4096), 4096)
    assert not read_back(payload)[0]["truncated"]


def test_a_short_japanese_message_passes_the_standard_build_whole():
    item = sample("ja-4625")
    event = read_back(evtsys_model.utf8_payload(sent(item)))[0]
    assert fields_of(event) == item["expected"] and not event["truncated"]


@pytest.mark.parametrize("pri_text, body, cut", [
    ("daemon.notice<29>", "Security-Auditing: 4624: AUDIT_SUCCESS x", False),
    ("daemon.notice<29>", "S: 1: " + "x" * (1023 - 4 - 17 - 6 - 4), True),
    ("daemon.notice", "S: 1: " + "x" * (1023 - 4 - 17 - 6 - 4), True),
    ("daemon.notice<29>", "S: 1: " + "x" * (1023 - 4 - 17 - 6 - 20), False),
    ("daemon.notice<29>", "S: 1: " + "x" * (4095 - 4 - 17 - 6 - 1), True),
    ("daemon.notice<29>", "S: 1: " + "\u00e9" * 490, True),
    ("daemon.notice<29>", "S: 1: caf\ufffd", True),
])
def test_evtsys_cut_knows_the_buffers_of_both_builds(pri_text, body, cut):
    assert we.evtsys_cut(pri_text, body) is cut


# --- Hostile text from a Windows sender (a client)

def test_a_name_never_runs_into_a_section_the_reader_does_not_know():
    fields = we.read_fields("Antragsteller: Sicherheits-ID: S-1-5-18 Kontoname: bob Gruppe: "
                            "Sicherheits-ID: S-1-5-32-544")
    assert we.security_event_fields(4732, fields)["target_account"] is None


def test_a_command_line_may_end_in_a_colon():
    fields = we.read_fields("A new process has been created. Process Information: New Process "
                            "Name: C:\\Windows\\System32\\net.exe Process Command Line: net use Z:")
    assert we.security_event_fields(4688, fields)["command"] == "net use Z:"


@given(st.lists(st.sampled_from(list("ab :\u00a0\u2019\uff1a-") + [
    "Account Name", "Kontoname", "Subject", "Sujet", "Nom du compte", "\ufffd", "\x00"]),
    max_size=120).map("".join))
@settings(max_examples=300, deadline=None)
def test_any_text_reads_without_error_into_values_it_holds(text):
    fields = we.read_fields(text)
    for section, name, value in fields:
        assert value in text and name in we.SECTIONS + we.FIELDS
        assert section is None or section in we.SECTIONS
    we.read_security_event(4624, "daemon.notice", text, text)


def test_a_crafted_line_neither_crashes_the_reader_nor_hides_the_next_event():
    hostile = [
        evtsys(4624, "Account Name: " + ": " * 30000),
        evtsys(4625, "Kontoname: \ufffd" * 2000, success=False),
        evtsys(4720, "\x00\x1b[2J Subject: Account Name: " + "x" * 70000),
        "Nov 14 22:13:20 192.0.2.20 daemon.notice<29> DC01 Security-Auditing: 99999999: x",
    ]
    honest = evtsys(4720, "A user account was created. Subject: Security ID: S-1-5-18 Account "
                          "Name: admin Account Domain: CORP New Account: Security ID: S-1-5-21-1 "
                          "Account Name: backdoor Account Domain: CORP")
    data = ("\n".join(hostile + [honest]) + "\n").encode("utf-8")
    events = list(iter_events(iter_lines(io.BytesIO(data))))
    assert (events[-1]["account"], events[-1]["target_account"]) == ("admin", "backdoor")
    assert [event["event_id"] for event in events] == [4624, 4625, 4720]
