"""A synthetic demographic table for chapter 08's k-anonymity and linkage-attack demonstrations.

Quasi-identifiers (age, sex, a 5-digit postcode grouped in districts, ethnicity), a diagnosis as the
sensitive attribute, and a made-up name per person for the public-register demo. No value
describes a real person.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from medbench.errors import ConfigError
from medbench.settings import check_seed

__all__ = ["ETHNIC_GROUPS", "DIAGNOSES", "simulate_demographics"]

ETHNIC_GROUPS = {"White British": "White", "White other": "White", "Indian": "Asian", "Pakistani": "Asian",
                 "Chinese": "Asian", "Black African": "Black", "Black Caribbean": "Black", "Mixed": "Mixed/other",
                 "Other": "Mixed/other"}
_ETH_P = [0.62, 0.10, 0.06, 0.04, 0.03, 0.05, 0.03, 0.04, 0.03]
DIAGNOSES = ("diabetes", "hypertension", "asthma", "depression", "COPD", "heart failure", "HIV", "none")
_DIAG_P = [0.14, 0.22, 0.10, 0.12, 0.06, 0.04, 0.02, 0.30]
_FIRST = ("Alex", "Sam", "Jo", "Chris", "Pat", "Lee", "Kim", "Robin", "Max", "Charlie", "Ali", "Mo", "Nina", "Ola")
_LAST = ("Smith", "Jones", "Patel", "Khan", "Brown", "Wilson", "Taylor", "Ahmed", "Evans", "Walker", "Wright", "Hall")


def simulate_demographics(n: int = 2000, seed: int = 0, n_postcodes: int = 60) -> pd.DataFrame:
    """A synthetic patient table: ``person_id``, ``name``, QIs (age, sex, 5-digit postcode, ethnicity) and a diagnosis.

    Postcodes share their leading digits by district (``n_postcodes`` codes in 6 districts), so
    truncating them groups neighbours. No value describes a real person.
    """
    seed = check_seed(seed)
    if int(n) < 10:
        raise ConfigError(f"n={n}: simulate at least 10 people.")
    rng = np.random.default_rng(seed)
    districts = rng.choice(np.arange(10, 99), size=6, replace=False)
    codes = np.array([f"{districts[i % 6]:02d}{rng.integers(0, 1000):03d}" for i in range(int(n_postcodes))])
    weights = rng.dirichlet(np.full(len(codes), 2.0))
    age = np.clip(rng.normal(52, 19, n), 18, 95).astype(int)
    diag = rng.choice(DIAGNOSES, size=n, p=_DIAG_P)
    return pd.DataFrame({
        "person_id": np.arange(n),
        "name": [f"{rng.choice(_FIRST)} {rng.choice(_LAST)}-{i:05d}" for i in range(n)],
        "age": age, "sex": rng.choice(["F", "M"], size=n),
        "postcode": rng.choice(codes, size=n, p=weights),
        "ethnicity": rng.choice(list(ETHNIC_GROUPS), size=n, p=_ETH_P),
        "diagnosis": diag,
    })
