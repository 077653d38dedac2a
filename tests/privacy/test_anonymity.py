"""k-anonymity, l-diversity, generalisation and the linkage attack, on a hand table and the simulator."""
from __future__ import annotations

import pandas as pd
import pytest

from medbench.errors import ConfigError
from medbench.privacy.anonymity import (
    generalise,
    k_anonymity,
    l_diversity,
    linkage_attack,
    prosecutor_risk,
    public_register,
    search_generalisation,
    simulate_demographics,
)

HAND = pd.DataFrame({
    "age": [34, 36, 38, 52, 53, 57],
    "sex": ["F", "F", "F", "M", "M", "M"],
    "postcode": ["12345", "12346", "12399", "54321", "54322", "54377"],
    "ethnicity": ["Indian", "Pakistani", "Chinese", "White British", "White other", "White British"],
    "diagnosis": ["asthma", "asthma", "HIV", "COPD", "COPD", "COPD"],
})


def test_hand_table():
    assert k_anonymity(HAND) == 1 and prosecutor_risk(HAND)["max"] == 1.0
    g = generalise(HAND, {"age": 2, "postcode": 2, "ethnicity": 1, "sex": 0})
    assert list(g["age"]) == ["30-39"] * 3 + ["50-59"] * 3
    assert list(g["postcode"][:3]) == ["123**"] * 3
    assert k_anonymity(g) == 3 and prosecutor_risk(g)["max"] == pytest.approx(1 / 3)
    assert l_diversity(g) == 1                      # the men all have COPD: 3-anonymous, not 2-diverse
    assert generalise(HAND, {"age": 4})["age"].eq("*").all()


def test_search_reaches_k5_on_the_simulator():
    df = simulate_demographics(1500, seed=1)
    assert k_anonymity(df) == 1
    g = search_generalisation(df, k=5, max_suppression=0.02)
    assert g.k >= 5 and g.suppressed <= 0.02 and 0 < g.precision_loss < 1
    assert g.risk["max"] <= 0.2
    assert (g.candidates["feasible"] & (g.candidates["precision_loss"] < g.precision_loss)).sum() == 0
    g2 = search_generalisation(df, k=5, l_div=2)
    assert g2.l_div >= 2


def test_bad_requests():
    with pytest.raises(ConfigError):
        search_generalisation(HAND, k=10, max_suppression=0.0)
    with pytest.raises(ConfigError):
        generalise(HAND, {"diagnosis": 1})


def test_linkage_attack_before_and_after():
    df = simulate_demographics(1500, seed=2)
    reg = public_register(df, 0.3, seed=2)
    raw = linkage_attack(df.drop(columns="name"), reg)
    assert raw["reidentified_rate"] > 0.5
    g = search_generalisation(df, k=5)
    after = linkage_attack(g.table.drop(columns="name"), reg, levels=g.levels)
    assert after["unique_matches"] == 0 and after["reidentified_rate"] == 0
