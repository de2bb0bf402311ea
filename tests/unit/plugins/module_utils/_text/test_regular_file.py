"""Every file named in an option is read through ``read_regular``: a file over what it should
hold is refused before it is read, with its name and size, never cut short in silence."""

from __future__ import annotations

import os

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    ReportError,
    read_rules_file,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.kernel import (
    LoadOutcome,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.processor import (
    main as processor_main,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.settings import (
    ProcessorConfigError,
    read_store_config,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.validate import (
    validate_drop_in,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.base import (
    EventStoreError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.clickhouse import (
    read_credentials,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._text.regular_file import (
    FileTooLarge,
    NotARegularFile,
    read_regular,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils.managed_file import (
    FileValidationError,
)
from ansible_collections.whotouched.server_audit.plugins.modules import audit_rules

MIB_16 = 16 << 20


def _sparse(path, size, head=b""):
    with open(path, "wb") as handle:
        handle.write(head)
        handle.truncate(size)  # nothing past the head is on disk
    return str(path)


def test_read_regular_reads_up_to_its_limit_and_refuses_one_byte_more(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    assert read_regular(str(path), "a file", 10) == b"x" * 10
    with pytest.raises(FileTooLarge) as raised:
        read_regular(str(path), "a small file", 9)
    assert str(raised.value) == "%s is too large for a small file: 10 bytes, over the 9 bytes " \
                                "limit" % path
    with pytest.raises(FileTooLarge, match="more than 64 bytes, over the 64 bytes limit"):
        read_regular("/proc/self/maps", "a file", 64)  # its size says 0
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(NotARegularFile, match="is a FIFO, not a file"):
        read_regular(str(tmp_path / "fifo"), "a file", 10)  # refused at once, not waited on


def test_the_processor_refuses_a_configuration_over_16_mib(tmp_path, capsys):
    # It once read the first 16 MiB and said only that the JSON was cut.
    config = _sparse(tmp_path / "alert-processor.json", MIB_16 + 1, b'{"rules": []}')
    assert processor_main(["--check", config]) == 2
    assert "cannot start with %s: %s is too large for a processor configuration file: 16777217 bytes, " \
           "over the 16 MiB limit" % (config, config) in capsys.readouterr().err


def test_clickhouse_credentials_over_64_kib_are_refused(tmp_path):
    # They were cut at 64 KiB: a password that long was sent cut short.
    path = tmp_path / "credentials"
    path.write_bytes(b"writer\n" + b"p" * 65536)
    with pytest.raises(EventStoreError) as raised:
        read_credentials(str(path))
    assert str(raised.value) == "store.credentials_file %s is too large for a ClickHouse " \
        "credentials file: 65543 bytes, over the 65536 bytes limit" % path


def test_a_risk_rules_file_over_16_mib_is_refused(tmp_path):
    path = _sparse(tmp_path / "rules.yml", MIB_16 + 1)
    with pytest.raises(ReportError) as raised:
        read_rules_file(path)
    assert str(raised.value) == "rules_file %s is too large for a risk rules file: 16777217 " \
                                "bytes, over the 16 MiB limit" % path


@pytest.mark.parametrize("make, says", [
    (lambda path: _sparse(path, MIB_16 + 1, b"*.* /var/log/all\n"),
     "is too large for an rsyslog configuration file: 16777217 bytes, over the 16 MiB limit"),
    (os.mkfifo, "is a FIFO, not an rsyslog configuration file"),
])
def test_rsyslog_filter_refuses_a_main_config_it_should_not_read(tmp_path, make, says):
    # It was read whole, and a FIFO put in its place after the module's check hung the read.
    main_config = tmp_path / "rsyslog.conf"
    make(main_config)
    calls = []
    with pytest.raises(FileValidationError) as raised:
        validate_drop_in(lambda argv: calls.append(argv) or (0, "", ""), "rsyslogd",
                         str(main_config), str(tmp_path / "10-a.conf"), "/tmp/cand")
    assert str(raised.value) == "main_config %s %s" % (main_config, says)
    assert calls == []  # rsyslogd was never asked


def test_audit_report_reads_the_processors_configuration_as_the_processor_does(tmp_path):
    # It read at most 1 MiB: a configuration the processor ran with (large inline rules)
    # made audit_report fail to find the store.
    path = tmp_path / "alert-processor.json"
    path.write_text('{"store": {"path": "/var/lib/x/events.db"}, "rules": ["%s"]}'
                    % ("x" * (2 << 20)))
    assert read_store_config(str(path))["path"] == "/var/lib/x/events.db"
    _sparse(path, MIB_16 + 1, b"{")
    with pytest.raises(ProcessorConfigError) as raised:
        read_store_config(str(path))
    assert str(raised.value) == "%s is too large for a processor configuration file: " \
                                "16777217 bytes, over the 16 MiB limit" % path


class _Module(object):
    def __init__(self):
        self.warnings = []

    def warn(self, message):
        self.warnings.append(message)


def test_audit_rules_names_refused_lines_from_the_loaded_file_when_it_can_read_it(tmp_path):
    loaded = tmp_path / "audit.rules"
    loaded.write_text("-w /etc/passwd -p wa\n")
    module = _Module()
    refused = LoadOutcome(["augenrules", "--load"], 1, "", str(loaded), {1: "bad"})
    assert audit_rules._refused_file_text(module, refused) == "-w /etc/passwd -p wa\n"
    # nothing refused: the file is not read at all (a FIFO there would hang the task)
    os.mkfifo(tmp_path / "fifo.rules")
    quiet = LoadOutcome(["augenrules", "--load"], 0, "", str(tmp_path / "fifo.rules"))
    assert audit_rules._refused_file_text(module, quiet) is None
    # the rules are loaded by now: a file too large to read is a warning, not a failure
    _sparse(loaded, MIB_16 + 1)
    assert audit_rules._refused_file_text(module, refused) is None
    assert module.warnings == [
        "the lines auditctl refused cannot be named: %s is too large for an audit rules file: "
        "16777217 bytes, over the 16 MiB limit" % loaded]


def test_main_config_line_endings_are_read_as_a_text_file_gives_them(tmp_path):
    main_config = tmp_path / "rsyslog.conf"
    main_config.write_bytes(b"*.* /var/log/a\r\n*.* /var/log/b\r*.* /var/log/c\n")
    seen = []

    def rsyslogd(argv):
        with open(argv[-1], "rb") as copy:
            seen.append(copy.read())
        return 0, "", ""

    validate_drop_in(rsyslogd, "rsyslogd", str(main_config), str(tmp_path / "10-a.conf"),
                     "/tmp/cand")
    assert seen[0].startswith(b"*.* /var/log/a\n*.* /var/log/b\n*.* /var/log/c\n")
