from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from medbench.data.warfarin import simulate_warfarin
from medbench.errors import ConfigError
from medbench.tasks import synthetic


@pytest.fixture(scope="module")
def parts():
    torch.set_num_threads(1)
    sim = simulate_warfarin(1200, seed=2)
    cols = ["patient_id", "age_decade", "height_cm", "weight_kg", "race", "vkorc1", "cyp2c9", "amiodarone",
            "inducer", "dose"]
    return [sim.part(s)[cols] for s in ("train", "val", "test")]


def test_codec_round_trip_keeps_categories_and_values(parts):
    tr, _, te = parts
    codec = synthetic.RowCodec().fit(tr)
    x = codec.encode(tr)
    assert x.shape == (len(tr), sum(codec.cat_sizes) + 3)
    k = sum(codec.cat_sizes)
    codes = torch.stack([c.argmax(1) for c in x[:, :k].split(codec.cat_sizes, 1)], 1)
    back = codec.decode(codes, x[:, k:])
    for col in ("age_decade", "race", "vkorc1", "cyp2c9", "amiodarone", "inducer"):
        assert (back[col].values == tr[col].values).all()
    # continuous values come back from the training grid, close to the originals
    assert np.isin(back["height_cm"], tr["height_cm"]).all()
    assert np.median(np.abs(back["height_cm"].values - tr["height_cm"].values)) < 0.5
    with pytest.raises(ConfigError, match="race"):
        codec.encode(tr.assign(race="Martian"))


def test_copies_of_training_rows_pass_detection_but_fail_dcr(parts):
    tr, va, te = parts
    holdout = pd.concat([va, te])
    # a "generator" that copies its training patients: indistinguishable from real patients ...
    assert abs(synthetic.detection_auc(holdout, tr, seed=0) - 0.5) < 0.1
    d = synthetic.dcr(tr, tr, te)
    # ... but sits on top of them: distance 0, ratio << 1
    assert d["dcr_ratio"] < 0.1 and d["share_copies"] == 1.0
    # obviously fake rows are detected
    fake = tr.assign(dose=tr["dose"] * 3)
    assert synthetic.detection_auc(holdout, fake, seed=0) > 0.9


def test_tabular_vae_gives_usable_synthetic_patients(parts):
    tr, va, te = parts
    model, codec, hist = synthetic.train_tabular_vae(tr, va, epochs=25, seed=0)
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    syn = synthetic.synthesize(model, codec, 500, seed=1)
    assert len(syn) == 500 and set(syn.columns) == set(tr.columns) and (syn["dose"] > 0).all()
    q = synthetic.tstr(syn, tr, te)
    assert q["tstr_mae"] < 1.4 * q["trtr_mae"]
    assert synthetic.dcr(syn, tr, te)["dcr_ratio"] > 0.7
