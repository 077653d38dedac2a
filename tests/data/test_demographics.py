"""The synthetic demographic table: columns, determinism, postcodes grouped by district."""
from __future__ import annotations

import pytest

from medbench.data.demographics import simulate_demographics
from medbench.errors import ConfigError


def test_table():
    df = simulate_demographics(500, seed=4)
    assert list(df.columns) == ["person_id", "name", "age", "sex", "postcode", "ethnicity", "diagnosis"]
    assert df["age"].between(18, 95).all() and df["postcode"].str.len().eq(5).all()
    assert df["postcode"].str[:2].nunique() <= 6 and df["name"].is_unique
    assert df.equals(simulate_demographics(500, seed=4))
    with pytest.raises(ConfigError):
        simulate_demographics(3)
