"""Role-based access control (pycasbin) with a hash-chained audit trail.

Roles, resources and actions (:data:`DEFAULT_POLICY`):

=============  ==========  ================  ===========
role           raw_phi     deidentified      aggregates
=============  ==========  ================  ===========
student        -           -                 read
researcher     -           read              read, export
clinician      read        read              read
data_steward   read/export read/export       read/export
=============  ==========  ================  ===========

Every decision :class:`AccessControl` makes is appended to an :class:`AuditLog`: one JSON line per
decision carrying the previous line's SHA-256, so editing, inserting or deleting a line breaks the
chain and :func:`verify_audit_log` names the first broken line. (Deleting the *last* lines is only
detectable against a head hash kept elsewhere: :attr:`AuditLog.head` is that anchor.)
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from medbench.errors import ConfigError

__all__ = ["RBAC_MODEL", "DEFAULT_POLICY", "ROLES", "RESOURCES", "ACTIONS", "AccessControl", "AuditLog",
           "AuditCheck", "verify_audit_log"]

#: casbin model: request (user, resource, action); a user gets a role's permissions through ``g``.
RBAC_MODEL = """
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
"""
ROLES = ("student", "researcher", "clinician", "data_steward")
RESOURCES = ("raw_phi", "deidentified", "aggregates")
ACTIONS = ("read", "export")
DEFAULT_POLICY = [
    ("student", "aggregates", "read"),
    ("researcher", "deidentified", "read"), ("researcher", "aggregates", "read"), ("researcher", "aggregates", "export"),
    ("clinician", "raw_phi", "read"), ("clinician", "deidentified", "read"), ("clinician", "aggregates", "read"),
] + [("data_steward", r, a) for r in RESOURCES for a in ACTIONS]
GENESIS = "0" * 64


def _line_hash(prev: str, record: dict) -> str:
    body = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev + body).encode("utf-8")).hexdigest()


class AuditLog:
    """Append-only JSON-lines log; each line holds ``prev`` (the previous line's hash) and its own ``hash``.

    Args:
        path: the log file (created; appended to if it exists, continuing its chain).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.head, self.n = GENESIS, 0
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                if line.strip():
                    rec = json.loads(line)
                    self.head, self.n = rec["hash"], self.n + 1

    def append(self, **event) -> dict:
        """Append one event (JSON-serialisable fields); returns the written record."""
        rec = {"seq": self.n, "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds"),
               **event, "prev": self.head}
        rec["hash"] = _line_hash(self.head, rec)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.head, self.n = rec["hash"], self.n + 1
        return rec


@dataclass
class AuditCheck:
    """Result of :func:`verify_audit_log`: ``ok``, lines read, first bad line (1-based) and why."""

    ok: bool
    lines: int
    bad_line: int | None = None
    reason: str = ""
    head: str = GENESIS


def verify_audit_log(path: str | os.PathLike, expected_head: str | None = None) -> AuditCheck:
    """Recompute the chain of an audit log.

    Args:
        path: the log.
        expected_head: the last hash kept elsewhere (detects deletion of the last lines).

    Returns:
        :class:`AuditCheck`; ``ok`` is False at the first line whose hash or link does not match.
    """
    prev, n = GENESIS, 0
    for i, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        n += 1
        try:
            rec = json.loads(line)
            stored = rec.pop("hash")
        except (ValueError, KeyError):
            return AuditCheck(False, n, i, "not a log record (unreadable JSON or no hash)", prev)
        if rec.get("prev") != prev:
            return AuditCheck(False, n, i, "link broken: a line before it was deleted, inserted or edited", prev)
        if _line_hash(prev, rec) != stored:
            return AuditCheck(False, n, i, "content does not match its hash: the line was edited", prev)
        prev = stored
    if expected_head is not None and prev != expected_head:
        return AuditCheck(False, n, None, "the last hash differs from the kept head: lines were removed at the end", prev)
    return AuditCheck(True, n, None, "", prev)


class AccessControl:
    """pycasbin RBAC enforcer whose every decision is written to an :class:`AuditLog`.

    Args:
        audit_path: the audit log file.
        users: ``{user: role}``.
        policy: ``(role, resource, action)`` permissions (default :data:`DEFAULT_POLICY`).
    """

    def __init__(self, audit_path: str | os.PathLike, users: dict[str, str], policy=None):
        import casbin

        model = casbin.model.Model()
        model.load_model_from_text(RBAC_MODEL)
        self.enforcer = casbin.Enforcer(model)
        for rule in policy or DEFAULT_POLICY:
            self.enforcer.add_policy(*rule)
        for user, role in users.items():
            if role not in {r[0] for r in (policy or DEFAULT_POLICY)}:
                raise ConfigError(f"user {user!r} has role {role!r}, which no policy line names; roles: {', '.join(ROLES)}")
            self.enforcer.add_grouping_policy(user, role)
        self.users = dict(users)
        self.log = AuditLog(audit_path)

    def check(self, user: str, resource: str, action: str, purpose: str = "") -> bool:
        """Decide (and log) whether ``user`` may ``action`` the ``resource``."""
        allowed = bool(self.enforcer.enforce(user, resource, action))
        self.log.append(user=user, role=self.users.get(user, ""), resource=resource, action=action,
                        allowed=allowed, purpose=purpose)
        return allowed

    def matrix(self):
        """Role x (resource, action) table of what each role may do (``pandas.DataFrame`` of bools)."""
        import pandas as pd

        rows = {}
        for role in sorted({r[0] for r in self.enforcer.get_policy()}, key=lambda r: (ROLES + (r,)).index(r)):
            rows[role] = {f"{res}:{act}": bool(self.enforcer.has_permission_for_user(role, res, act))
                          for res in RESOURCES for act in ACTIONS}
        return pd.DataFrame(rows).T
