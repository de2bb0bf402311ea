"""The rsyslog_client README's example of trimming the noise list does what its text says:
the program it names is forwarded again, the seed's other programs stay dropped."""

from __future__ import annotations

import re

import yaml

from tests.support.audit_records import dropped
from tests.support.collection_path import ROOT
from tests.support.role_vars import rendered

README = ROOT / "roles" / "rsyslog_client" / "README.md"


def test_the_example_that_forwards_sh_keeps_every_other_program_of_the_seed_dropped():
    text = README.read_text(encoding="utf-8")
    example = re.search(r"for example forward\s+`sh` too.*?```yaml\n(.*?)```", text, re.S)
    assert example, "the README no longer shows how to forward sh"
    settings = yaml.safe_load(example.group(1))
    filters = rendered("rsyslog_client", "rsyslog_client_noise_filters", **settings) + \
        settings["rsyslog_client_noise_filters_extra"]
    record = 'type=SYSCALL msg=audit(1.0:1): syscall=59 comm="%s" exe="/usr/bin/%s"'
    for program, drop in (("sh", False), ("cat", False), ("ping", True), ("top", True),
                          ("ls", True), ("grep", True), ("my-monitoring-agent", True)):
        assert dropped(filters, record % (program, program)) is drop, program
    assert rendered("rsyslog_client", "rsyslog_client_noise_filters") != filters[:-1]
