"""How the candidate is put in the place of the target inside a copy of the main config."""

from __future__ import annotations

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils.managed_file import (
    FileValidationError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.validate import (
    include_covers,
    validate_drop_in,
    validation_config,
)

DROP_INS = ["/etc/rsyslog.d/05-a.conf", "/etc/rsyslog.d/10-audit.conf",
            "/etc/rsyslog.d/50-default.conf"]


def _expand(pattern):
    return [name for name in DROP_INS if include_covers(pattern, name)]


@pytest.mark.parametrize("pattern, target, covered", [
    ("/etc/rsyslog.d/*.conf", "/etc/rsyslog.d/10-audit.conf", True),
    ("/etc/rsyslog.d/", "/etc/rsyslog.d/10-audit.conf", True),
    ("/etc/rsyslog.d/*.conf", "/etc/rsyslog.d/10-audit.rules", False),
    ("/etc/rsyslog.d/*.conf", "/etc/rsyslog.d/.10-audit.conf", False),
    ("/etc/rsyslog.d/*.conf", "/etc/rsyslog.d/sub/10-audit.conf", False),
    ("/etc/rsyslog.d/10-audit.conf", "/etc/rsyslog.d/10-audit.conf", True),
])
def test_include_covers_like_rsyslogs_glob(pattern, target, covered):
    assert include_covers(pattern, target) is covered


@pytest.mark.parametrize("main", [
    "$WorkDirectory /var/spool/rsyslog\n$IncludeConfig /etc/rsyslog.d/*.conf\n*.* /var/log/x\n",
    'include(file="/etc/rsyslog.d/*.conf" mode="optional")\n*.* /var/log/x\n',
])
def test_the_candidate_takes_the_targets_place_in_sorted_order(main):
    text = validation_config(main, "/etc/rsyslog.d/10-audit.conf", "/tmp/cand", _expand)
    includes = [line for line in text.splitlines() if line.startswith("include(")]
    assert includes == ['include(file="/etc/rsyslog.d/05-a.conf")', 'include(file="/tmp/cand")',
                        'include(file="/etc/rsyslog.d/50-default.conf")']
    assert text.endswith("*.* /var/log/x\n")


def test_a_new_drop_in_is_slotted_where_rsyslog_would_read_it():
    text = validation_config("$IncludeConfig /etc/rsyslog.d/*.conf\n",
                             "/etc/rsyslog.d/20-new.conf", "/tmp/cand", _expand)
    assert text.splitlines() == ['include(file="/etc/rsyslog.d/05-a.conf")',
                                 'include(file="/etc/rsyslog.d/10-audit.conf")',
                                 'include(file="/tmp/cand")',
                                 'include(file="/etc/rsyslog.d/50-default.conf")']


def test_commented_includes_are_not_followed_and_uncovered_targets_go_last():
    main = "#$IncludeConfig /etc/rsyslog.d/*.conf\n# include(file=\"/etc/rsyslog.d/*.conf\")\n"
    text = validation_config(main, "/etc/rsyslog.d/10-audit.conf", "/tmp/cand", _expand)
    assert text.startswith(main)
    assert text.endswith('include(file="/tmp/cand")\n')


def test_without_a_main_config_the_candidate_gets_a_sink():
    text = validation_config(None, "/etc/rsyslog.d/10-audit.conf", "/tmp/cand", _expand)
    assert 'file="/dev/null"' in text and text.endswith('include(file="/tmp/cand")\n')


def test_refusal_names_the_target_and_keeps_rsyslogds_words(tmp_path):
    main = tmp_path / "rsyslog.conf"
    main.write_text("$IncludeConfig %s/*.conf\n" % tmp_path)
    calls = []

    def refuse(argv):
        calls.append(argv)
        copy = argv[-1]
        return 1, "", ("rsyslogd: error during parsing file /tmp/cand, on or before line 1: "
                       "invalid compare operation 'x'\nrsyslogd: could not interpret master "
                       "config file '%s'." % copy)

    with pytest.raises(FileValidationError) as caught:
        validate_drop_in(refuse, "rsyslogd", str(main), str(tmp_path / "10-a.conf"), "/tmp/cand")
    assert calls[0][:3] == ["rsyslogd", "-N1", "-f"]
    message = str(caught.value)
    assert "invalid compare operation 'x'" in message
    assert str(tmp_path / "10-a.conf") in message and "/tmp/cand" not in message
    assert str(main) in caught.value.output
