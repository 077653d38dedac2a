"""RBAC decisions from pycasbin, and a hash-chained audit log whose verifier catches edits and deletions."""
from __future__ import annotations

import pytest

from medbench.errors import ConfigError
from medbench.privacy.access import AccessControl, AuditLog, verify_audit_log

USERS = {"ann": "student", "bob": "researcher", "cat": "clinician", "dan": "data_steward"}


@pytest.fixture
def ac(tmp_path):
    return AccessControl(tmp_path / "audit.jsonl", USERS)


def test_decisions(ac):
    assert not ac.check("ann", "raw_phi", "read") and ac.check("ann", "aggregates", "read")
    assert ac.check("bob", "deidentified", "read") and not ac.check("bob", "deidentified", "export")
    assert ac.check("cat", "raw_phi", "read") and not ac.check("cat", "raw_phi", "export")
    assert ac.check("dan", "raw_phi", "export")
    assert not ac.check("eve", "aggregates", "read")                # unknown user: denied
    m = ac.matrix()
    assert m.loc["student"].sum() == 1 and m.loc["data_steward"].all()


def test_every_decision_logged_and_chain_verifies(ac, tmp_path):
    for res in ("raw_phi", "deidentified", "aggregates"):
        ac.check("bob", res, "read")
    check = verify_audit_log(tmp_path / "audit.jsonl", expected_head=ac.log.head)
    assert check.ok and check.lines == 3


def _lines(path):
    return path.read_text().splitlines()


@pytest.mark.parametrize("tamper", ["edit", "delete", "swap"])
def test_verifier_catches_tampering(ac, tmp_path, tamper):
    for res in ("raw_phi", "deidentified", "aggregates", "raw_phi"):
        ac.check("ann", res, "read")
    path = tmp_path / "audit.jsonl"
    lines = _lines(path)
    if tamper == "edit":
        lines[1] = lines[1].replace('"allowed": false', '"allowed": true')
    elif tamper == "delete":
        del lines[1]
    else:
        lines[1], lines[2] = lines[2], lines[1]
    path.write_text("\n".join(lines) + "\n")
    check = verify_audit_log(path)
    assert not check.ok and check.bad_line == 2


def test_truncation_needs_the_head(ac, tmp_path):
    ac.check("ann", "raw_phi", "read")
    ac.check("ann", "raw_phi", "read")
    head = ac.log.head
    path = tmp_path / "audit.jsonl"
    path.write_text(_lines(path)[0] + "\n")
    assert verify_audit_log(path).ok                                 # a shortened chain is still a chain
    assert not verify_audit_log(path, expected_head=head).ok          # ... but not the one we kept


def test_log_continues_after_reopen(tmp_path):
    log = AuditLog(tmp_path / "a.jsonl")
    log.append(event="x")
    log2 = AuditLog(tmp_path / "a.jsonl")
    log2.append(event="y")
    assert verify_audit_log(tmp_path / "a.jsonl").ok and log2.n == 2


def test_unknown_role(tmp_path):
    with pytest.raises(ConfigError):
        AccessControl(tmp_path / "a.jsonl", {"x": "admin"})
