"""Every file named in an option is read through ``read_regular``: a file over what it should
hold is refused before it is read, with its name and size, never cut short in silence."""

from __future__ import annotations

import os

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    ReportError,
    read_rules_file,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.processor import (
    main as processor_main,
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
    assert "cannot start with %s: %s is too large for a configuration file: 16777217 bytes, " \
           "over the 16 MiB limit" % (config, config) in capsys.readouterr().err


def test_clickhouse_credentials_over_64_kib_are_refused(tmp_path):
    # They were cut at 64 KiB: a password that long was sent cut short.
    path = tmp_path / "credentials"
    path.write_bytes(b"writer\n" + b"p" * 65536)
    with pytest.raises(EventStoreError) as raised:
        read_credentials(str(path))
    assert str(raised.value) == "store.credentials_file %s cannot be read: %s is too large for " \
        "a ClickHouse credentials file: 65543 bytes, over the 65536 bytes limit" % (path, path)


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
