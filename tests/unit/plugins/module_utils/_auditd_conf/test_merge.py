"""Merging settings into auditd's key = value files by key: a table of files and outcomes."""

from __future__ import annotations

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils.managed_file import (
    FileValidationError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._auditd_conf.merge import (
    EXCLUSIVE_HEADER,
    merge_settings,
    parse_setting_line,
)

DEBIAN = ("#\n# This file controls the configuration of the audit daemon\n#\n\n"
          "local_events = yes\nlog_file = /var/log/audit/audit.log\nflush = INCREMENTAL_ASYNC\n"
          "freq = 50\nnum_logs = 5\n##name = mydomain\nmax_log_file_action = ROTATE\n")


@pytest.mark.parametrize("line, setting", [
    ("num_logs = 5", ("num_logs", "5")),
    ("  Flush = DATA  ", ("flush", "DATA")),
    # what auditd 3.0.9 refuses ("Missing equal sign", "Wrong number of arguments"): it splits
    # a line at spaces only
    ("  Flush=DATA  ", None),
    ("num_logs\t=\t4", None),
    ("num_logs = 4\r", None),
    ("\t# a comment after a tab", None),
    ("space_left_action = exec /usr/local/sbin/alert", ("space_left_action", "exec /usr/local/sbin/alert")),
    ("##name = mydomain", None),
    ("", None),
    ("not a setting", None),
])
def test_setting_lines(line, setting):
    assert parse_setting_line(line) == setting


def test_present_sets_keys_in_place_appends_the_missing_and_keeps_the_rest():
    result = merge_settings(DEBIAN, [("num_logs", "4"), ("flush", "incremental_async"),
                                     ("q_depth", "8192")])
    assert result.text == DEBIAN.replace("num_logs = 5", "num_logs = 4") + "q_depth = 8192\n"
    assert result.added == ["num_logs = 4", "q_depth = 8192"]
    assert result.removed == ["num_logs = 5"]
    assert result.returns == {"settings": {"flush": "INCREMENTAL_ASYNC", "num_logs": "4",
                                           "q_depth": "8192"}}
    assert result.changed


def test_unchanged_the_text_is_the_files_own_byte_for_byte():
    text = DEBIAN.rstrip("\n")
    result = merge_settings(text, [("Num_Logs", "5")])
    assert (result.text, result.changed, result.added) == (text, False, [])


def test_lines_auditd_refuses_are_named_and_exclusive_leaves_them_out():
    """A carriage return is part of a value for auditd, and key=value is no setting: it
    refuses the file.  They are named; exclusive writes the settings as auditd reads them."""
    text = "num_logs=4\nmax_log_file = 8\r\nflush = data\n"
    result = merge_settings(text, [("num_logs", "4"), ("max_log_file", "8")])
    assert result.added == ["num_logs = 4", "max_log_file = 8"]
    assert [warning.split('"')[1] for warning in result.warnings] == [
        "num_logs=4", "max_log_file = 8\\x0d"]
    assert all("auditd refuses the file" in warning for warning in result.warnings)
    exclusive = merge_settings(text, [("num_logs", "4"), ("max_log_file", "8")], exclusive=True)
    assert exclusive.text.split("\n")[1:] == ["num_logs = 4", "max_log_file = 8", ""]


def test_every_line_of_a_key_gets_the_value_auditd_keeps_the_last():
    result = merge_settings("freq = 50\n# note\nfreq = 20\n", [("freq", "1")])
    assert result.text == "freq = 1\n# note\nfreq = 1\n"
    assert result.removed == ["freq = 50", "freq = 20"]


def test_a_missing_file_is_created_and_a_file_without_a_final_newline_gets_one():
    assert merge_settings(None, [("active", "no")], syntax="plugin").text == "active = no\n"
    assert merge_settings("active = yes", [("args", "LOG_INFO")], syntax="plugin").text == \
        "active = yes\nargs = LOG_INFO\n"


def test_absent_removes_the_lines_of_the_keys_whatever_their_value():
    result = merge_settings(DEBIAN, [("freq", ""), ("name", "")], state="absent")
    assert result.text == DEBIAN.replace("freq = 50\n", "")
    assert result.removed == ["freq = 50"]


def test_exclusive_is_exactly_the_settings_under_the_header():
    result = merge_settings(DEBIAN, [("num_logs", "5"), ("freq", "1")], exclusive=True)
    assert result.text == EXCLUSIVE_HEADER + "\nnum_logs = 5\nfreq = 1\n"
    assert result.added == ["freq = 1"]
    assert "num_logs = 5" not in result.removed and "freq = 50" in result.removed
    again = merge_settings(result.text, [("num_logs", "5"), ("freq", "1")], exclusive=True)
    assert not again.changed


def test_a_line_that_is_no_setting_is_kept_and_warned_about():
    result = merge_settings("num_logs 5\nfreq = 50\n", [("freq", "1")])
    assert result.text == "num_logs 5\nfreq = 1\n"
    assert result.warnings == ['line 1 "num_logs 5" of the file is not "key = value": auditd refuses the file']


SHADOW = ("root:$6$Zq1t$9XrXGmTJm0kx0v1Zb8T1:19700:0:99999:7:::\n"
          "alice:$y$j9T$Q7aTZb1m/.k$8sL0WqE3rN:19701:0:99999:7:::\n")


@pytest.mark.parametrize("state, exclusive", [("present", False), ("absent", False),
                                              ("present", True)])
def test_a_file_of_another_kind_is_refused_without_a_line_of_it(state, exclusive):
    with pytest.raises(FileValidationError) as raised:
        merge_settings(SHADOW, [("num_logs", "4")], state, exclusive)
    assert "line 1" in str(raised.value)
    assert "root" not in str(raised.value) and "$6$" not in str(raised.value)


def test_an_empty_file_or_one_of_comments_is_no_file_of_another_kind():
    assert merge_settings("", [("freq", "50")]).text == "freq = 50\n"
    assert merge_settings("# none yet\n\n", [("freq", "50")]).text == "# none yet\n\nfreq = 50\n"


def test_lines_that_are_no_setting_are_shown_safe_and_counted_past_twenty():
    text = "freq = 50\n" + "".join("bad\x1b[31m line\u202e %d\n" % number for number in range(30))
    warnings = merge_settings(text, [("freq", "50")]).warnings
    assert len(warnings) == 21
    assert warnings[0].startswith('line 2 "bad\\x1b[31m line\\u202e 0"')
    assert "\x1b" not in "".join(warnings) and "\u202e" not in "".join(warnings)
    assert warnings[-1].startswith("10 more lines")


def test_exclusive_keeps_a_line_that_sets_the_value_in_other_words():
    text = EXCLUSIVE_HEADER + "\nflush = incremental_async\nnum_logs = 5\n"
    result = merge_settings(text, [("flush", "INCREMENTAL_ASYNC"), ("num_logs", "5")],
                            exclusive=True)
    assert (result.changed, result.added, result.removed) == (False, [], [])
    assert result.text == text


@pytest.mark.parametrize("text, settings, says", [
    ("flush = INCREMENTAL_ASYNC\nfreq = 50\n", [("freq", "0")], "and freq = 0: auditd refuses it"),
    ("freq = 0\n", [("flush", "incremental")], "and freq = 0: auditd refuses it"),
    ("space_left = 75\nadmin_space_left = 50\n", [("space_left", "10")],
     "space_left = 10 must be larger than admin_space_left = 50"),
])
def test_a_change_that_makes_settings_auditd_refuses_together_is_refused(text, settings, says):
    with pytest.raises(FileValidationError, match=says):
        merge_settings(text, settings)


def test_settings_refused_together_already_are_named_and_do_not_stop_other_changes():
    result = merge_settings("flush = INCREMENTAL\nfreq = 0\n", [("num_logs", "5")])
    assert result.added == ["num_logs = 5"]
    assert result.warnings == ["auditd.conf: flush = INCREMENTAL writes every freq records, and "
                               "freq = 0: auditd refuses it (so in the file already)"]
    assert merge_settings("flush = INCREMENTAL\nfreq = 0\n", [("freq", "50")]).warnings == []
