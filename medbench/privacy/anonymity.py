"""k-anonymity, l-diversity, generalisation hierarchies, re-identification risk and a linkage attack.

A released table is **k-anonymous** on its quasi-identifiers (QIs: age, sex, postcode,
ethnicity) when every combination of QI values is shared by at least k records (Sweeney 2002);
**l-diverse** when every such equivalence class holds at least l distinct values of the sensitive
attribute (Machanavajjhala et al. 2007). The **prosecutor risk** of a record is 1 / (size of its
class); its maximum, 1 / k, is what an attacker who knows the target is in the table achieves
(El Emam 2008). Generalisation replaces values by coarser ones along a hierarchy (age 37 -> 35-39 ->
30-39 -> 20-39 -> *; postcode 12345 -> 1234* -> 123** ...); the **information loss** is measured by
Sweeney's precision loss, the mean over QIs of level / top level (0 = raw, 1 = all suppressed),
plus the share of suppressed records.

:func:`simulate_demographics` draws a synthetic population table (no real person); a
:func:`public_register` is a voter-list-like extract of the same population holding names with
exact QIs, which :func:`linkage_attack` joins to a release.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from medbench.data.demographics import ETHNIC_GROUPS, simulate_demographics
from medbench.errors import ConfigError
from medbench.settings import check_seed

__all__ = ["QUASI_IDENTIFIERS", "HIERARCHY_LEVELS", "simulate_demographics", "generalise", "equivalence_classes",
           "k_anonymity", "l_diversity", "prosecutor_risk", "Generalisation", "search_generalisation",
           "public_register", "linkage_attack"]

QUASI_IDENTIFIERS = ("age", "sex", "postcode", "ethnicity")
#: Highest generalisation level of each hierarchy (the level that suppresses the value: "*").
HIERARCHY_LEVELS = {"age": 4, "sex": 1, "postcode": 5, "ethnicity": 2}
def _gen_value(col: str, v, level: int):
    if level <= 0:
        return v
    if level >= HIERARCHY_LEVELS[col]:
        return "*"
    if col == "age":
        width = {1: 5, 2: 10, 3: 20}[level]
        lo = int(v) // width * width
        return f"{lo}-{lo + width - 1}"
    if col == "postcode":
        s = str(v)
        return s[: len(s) - level] + "*" * level
    if col == "ethnicity":
        return ETHNIC_GROUPS.get(v, "Mixed/other")
    return "*"


def generalise(df: pd.DataFrame, levels: dict[str, int]) -> pd.DataFrame:
    """Copy of ``df`` with each QI column generalised to its level (0 = raw, top = ``"*"``), as strings."""
    out = df.copy()
    for col, level in levels.items():
        if col not in HIERARCHY_LEVELS:
            raise ConfigError(f"no hierarchy for column {col!r}; quasi-identifiers: {', '.join(HIERARCHY_LEVELS)}")
        if not 0 <= int(level) <= HIERARCHY_LEVELS[col]:
            raise ConfigError(f"level {level} for {col!r}: choose 0..{HIERARCHY_LEVELS[col]}")
        out[col] = [str(_gen_value(col, v, int(level))) for v in df[col]]
    return out


def equivalence_classes(df: pd.DataFrame, qis=QUASI_IDENTIFIERS) -> pd.Series:
    """Size of each record's equivalence class (records sharing all QI values), aligned with ``df``."""
    return df.groupby(list(qis), observed=True)[list(qis)[0]].transform("size")


def k_anonymity(df: pd.DataFrame, qis=QUASI_IDENTIFIERS) -> int:
    """The k of ``df``: its smallest equivalence class (0 for an empty table)."""
    return int(df.groupby(list(qis), observed=True).size().min()) if len(df) else 0


def l_diversity(df: pd.DataFrame, qis=QUASI_IDENTIFIERS, sensitive: str = "diagnosis") -> int:
    """Distinct l: the fewest distinct sensitive values in any equivalence class."""
    return int(df.groupby(list(qis), observed=True)[sensitive].nunique().min()) if len(df) else 0


def prosecutor_risk(df: pd.DataFrame, qis=QUASI_IDENTIFIERS) -> dict:
    """Prosecutor re-identification risk: ``max`` = 1 / smallest class, ``mean`` = classes / records,
    ``unique`` = share of records alone in their class."""
    sizes = equivalence_classes(df, qis)
    return {"max": float(1.0 / sizes.min()), "mean": float((1.0 / sizes).mean()), "unique": float((sizes == 1).mean())}


@dataclass
class Generalisation:
    """The chosen generalisation: levels, released table, k, l, risk, information loss and suppression."""

    levels: dict
    table: pd.DataFrame
    k: int
    l_div: int
    precision_loss: float
    suppressed: float
    risk: dict
    candidates: pd.DataFrame


def search_generalisation(df: pd.DataFrame, k: int = 5, l_div: int = 1, qis=QUASI_IDENTIFIERS,
                          sensitive: str = "diagnosis", max_suppression: float = 0.02) -> Generalisation:
    """Search the full lattice of hierarchy levels for the least information loss that reaches k (and l).

    Records in classes smaller than ``k`` (or less diverse than ``l_div``) are suppressed when they are
    at most ``max_suppression`` of the table. Among the feasible nodes, the one with the smallest
    precision loss wins (ties: less suppression).

    Returns:
        :class:`Generalisation`; ``candidates`` lists every node with its k, loss and suppression.

    Raises:
        ConfigError: bad k/l, or no node reaches them.
    """
    if int(k) < 1 or int(l_div) < 1:
        raise ConfigError(f"k={k}, l={l_div}: both must be >= 1.")
    qis = list(qis)
    rows, best = [], None
    for combo in itertools.product(*[range(HIERARCHY_LEVELS[q] + 1) for q in qis]):
        levels = dict(zip(qis, combo))
        g = generalise(df, levels)
        grp = g.groupby(qis, observed=True)
        size = grp[qis[0]].transform("size")
        div = grp[sensitive].transform("nunique")
        keep = (size >= k) & (div >= l_div)
        supp = 1.0 - float(keep.mean())
        loss = float(np.mean([lv / HIERARCHY_LEVELS[q] for q, lv in levels.items()]))
        ok = supp <= max_suppression and keep.any()
        rows.append({**levels, "k_raw": int(size.min()), "precision_loss": loss, "suppressed": supp, "feasible": ok})
        if ok and (best is None or (loss, supp) < (best[0], best[1])):
            best = (loss, supp, levels, g[keep.values])
    cands = pd.DataFrame(rows)
    if best is None:
        raise ConfigError(f"no generalisation reaches k={k}, l={l_div} with at most {max_suppression:.0%} suppression; "
                          "allow more suppression or lower k/l.")
    loss, supp, levels, table = best
    return Generalisation(levels, table.reset_index(drop=True), k_anonymity(table, qis), l_diversity(table, qis, sensitive),
                          loss, supp, prosecutor_risk(table, qis), cands)


def public_register(population: pd.DataFrame, fraction: float = 0.3, seed: int = 0) -> pd.DataFrame:
    """A public-like register (think voter list): names with exact QIs for a random ``fraction`` of the population."""
    seed = check_seed(seed)
    reg = population.sample(frac=float(fraction), random_state=seed)
    return reg[["name", *QUASI_IDENTIFIERS, "person_id"]].reset_index(drop=True)


def linkage_attack(release: pd.DataFrame, register: pd.DataFrame, levels: dict | None = None,
                   qis=QUASI_IDENTIFIERS, sensitive: str = "diagnosis") -> dict:
    """Join a register to a release on the QIs; count people matched to exactly one released record.

    Args:
        release: the released table (QIs, possibly generalised, and the sensitive column; ``person_id``
            kept only to score the attack, never used to match).
        register: names with exact QIs (:func:`public_register`).
        levels: the release's generalisation levels (the attacker generalises the register the same way).

    Returns:
        ``{"register": n, "unique_matches": n, "correct": n, "reidentified_rate": correct / register,
        "diagnosis_learned": share of register people whose diagnosis the attacker learns with certainty}``.
    """
    qis = list(qis)
    reg = generalise(register, levels) if levels else register.copy()
    rel = release.copy()
    for q in qis:
        reg[q], rel[q] = reg[q].astype(str), rel[q].astype(str)
    rel["_n"] = rel.groupby(qis, observed=True)[qis[0]].transform("size")
    rel["_ndiag"] = rel.groupby(qis, observed=True)[sensitive].transform("nunique")
    m = reg.merge(rel[qis + ["_n", "_ndiag", "person_id", sensitive]], on=qis, how="inner", suffixes=("", "_rel"))
    unique = m[m["_n"] == 1]
    correct = int((unique["person_id"] == unique["person_id_rel"]).sum())
    certain = m[(m["_ndiag"] == 1)].drop_duplicates("person_id")
    return {"register": int(len(register)), "unique_matches": int(len(unique)), "correct": correct,
            "reidentified_rate": correct / max(len(register), 1),
            "diagnosis_learned": float(len(certain)) / max(len(register), 1)}
