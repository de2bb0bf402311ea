"""The event library reads other projects' audit logs as ausearch -i does.

Every log of the corpus's ``audit-logs`` folder (the test data of audit-userspace's auparse,
laurel and go-libaudit: RHEL 5 to Ubuntu 24.04 kernels, RAW and ENRICHED, records out of order,
lost and hand-made ones) is read by ``ausearch -i`` and by the event library, and the two are
compared event by event (``tests/support/ausearch.py``).  What differs by design is listed,
each with its reason, in ``tests/support/ausearch_differences.yml``; anything else fails, and so
does an entry nothing matches any more.  The per-file counts are printed, so that a change in
how a log is read shows in every run.
"""

from __future__ import annotations

import pytest

from tests.support.ausearch import (
    ALLOWED_DIFFERENCES,
    AUSEARCH,
    ausearch_version,
    compare_file,
    load_allowed_differences,
    run_ausearch,
    unexplained,
)
from tests.support.audit_records import exec_records
from tests.support.corpus import corpus_audit_logs

# log -> events whose records are not in it (see the test's last check)
LOGS_WITH_RECORDS_MISSING = {"go-libaudit/auparse_testdata_audit-ubuntu17.log": 1,
                             "go-libaudit/testdata_rollover.log": 1}


def test_every_log_of_the_corpus_is_read_as_ausearch_reads_it(capsys):
    version = ausearch_version()
    if version is None:
        pytest.skip("ausearch is not installed at %s (package auditd)" % AUSEARCH)
    allowed = load_allowed_differences()
    if version != allowed.ausearch_version:
        pytest.skip("ausearch %s is installed; %s was reviewed against ausearch %s"
                    % (version, ALLOWED_DIFFERENCES.name, allowed.ausearch_version))
    folder, paths = corpus_audit_logs()
    comparisons = [compare_file(path, str(path.relative_to(folder))) for path in paths]
    unmatched = []
    stale = []
    for comparison in comparisons:
        found, unused = unexplained(comparison, allowed)
        unmatched.extend(found)
        stale.extend(unused)
    totals = [sum(getattr(comparison, name) for comparison in comparisons)
              for name in ("records", "ausearch_events", "our_events", "incomplete")]
    with capsys.disabled():
        print("\nausearch %s and the event library on %d logs of %s:" % (
            version, len(comparisons), folder))
        for comparison in comparisons:
            print("  " + comparison.line())
        print("  total: %d records, %d ausearch events, %d events (%d incomplete), "
              "%d differences (%d allowed)" % tuple(totals + [
                  sum(len(comparison.differences) for comparison in comparisons), len(allowed.events)]))
    assert comparisons, "no logs in %s" % folder
    names = {comparison.name for comparison in comparisons}
    assert not unmatched, "differences from ausearch -i not in %s:\n%s" % (
        ALLOWED_DIFFERENCES.name, "\n".join(map(repr, unmatched)))
    assert not stale, "entries of %s that no difference matches any more:\n%s" % (
        ALLOWED_DIFFERENCES.name, "\n".join(map(repr, stale)))
    assert {key[0] for key in allowed.events} <= names, "entries naming logs the corpus lacks"
    # Incomplete are only the events whose records the log itself lacks: a successful
    # execve's SYSCALL record without its EXECVE record (a one-line log; a rollover's cut).
    assert {comparison.name: comparison.incomplete for comparison in comparisons
            if comparison.incomplete} == LOGS_WITH_RECORDS_MISSING


def test_a_difference_from_ausearch_is_seen(tmp_path):
    # ausearch's output of one command, the library's reading of another with the same stamp
    if ausearch_version() is None:
        pytest.skip("ausearch is not installed at %s (package auditd)" % AUSEARCH)
    theirs = tmp_path / "theirs.log"
    theirs.write_text("\n".join(exec_records(["id", "-u"], tty="pts1")) + "\n")
    ours = tmp_path / "ours.log"
    ours.write_text("\n".join(exec_records(["id", "-g"], tty="pts1")) + "\n")
    same = compare_file(theirs, "theirs")
    assert (same.ausearch_events, same.our_events, same.differences) == (1, 1, [])
    other = compare_file(ours, "ours", ausearch_text=run_ausearch(theirs))
    assert [(difference["fact"], difference["ausearch"], difference["ours"])
            for difference in other.differences] == [
        ("command", ["argv", ["id", "-u"]], ["argv", ["id", "-g"]])]
