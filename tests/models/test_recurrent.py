"""Masked LSTM/GRU classifiers (medbench.models.recurrent)."""
from __future__ import annotations

import pytest
import torch

from medbench.errors import ConfigError
from medbench.models.recurrent import RecurrentClassifier


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("pooling", ["last", "last+mean"])
def test_output_ignores_padding_values(cell, pooling):
    torch.manual_seed(0)
    model = RecurrentClassifier(6, cell=cell, hidden_size=8, n_tasks=3, pooling=pooling).eval()
    x = torch.randn(5, 9, 6)
    lengths = torch.tensor([9, 1, 4, 7, 2])
    pad = torch.arange(9)[None, :] >= lengths[:, None]
    x[pad] = 0.0
    out = model(x, lengths)
    x2 = x.clone()
    x2[pad] = torch.randn(int(pad.sum()), 6) * 100  # garbage in the padding
    torch.testing.assert_close(model(x2, lengths), out)
    # and the same sequence without any padding gives the same answer
    torch.testing.assert_close(model(x[2:3, :4], lengths[2:3]), out[2:3])
    # but the real steps do matter
    x3 = x.clone()
    x3[1, 0] += 1.0
    assert not torch.allclose(model(x3, lengths)[1], out[1])


def test_per_step_outputs_match_prefixes():
    torch.manual_seed(1)
    model = RecurrentClassifier(4, cell="gru", hidden_size=8, n_tasks=2).eval()
    x, lengths = torch.randn(3, 6, 4), torch.tensor([6, 3, 5])
    steps = model(x, lengths, per_step=True)
    assert steps.shape == (3, 6, 2)
    for k in range(1, 4):
        torch.testing.assert_close(steps[:, k - 1], model(x[:, :k], torch.full((3,), k)), rtol=1e-5, atol=1e-5)
    assert (steps[1, 3:] == 0).all()
    # predict_risk (medbench.tasks.disease) on the same model: tests/tasks/test_disease.py


def test_learns_a_sequence_dependent_target():
    """The label is whether the sum of values over the real steps is positive."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is fastest, and others run tests too
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, 1, generator=g)
    lengths = torch.randint(1, 9, (256,), generator=g)
    pad = torch.arange(8)[None, :] >= lengths[:, None]
    x[pad] = 0
    y = (x.sum((1, 2)) > 0).float()[:, None]
    torch.manual_seed(0)
    model = RecurrentClassifier(1, cell="lstm", hidden_size=16, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), 2e-2)
    for _ in range(80):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x, lengths), y)
        loss.backward()
        opt.step()
    acc = ((model(x, lengths) > 0).float() == y).float().mean()
    torch.set_num_threads(threads)
    assert acc > 0.9


def test_bad_arguments():
    with pytest.raises(ConfigError):
        RecurrentClassifier(3, cell="rnn")
    model = RecurrentClassifier(3)
    with pytest.raises(ConfigError):
        model(torch.randn(2, 4, 3), torch.tensor([0, 2]))
    with pytest.raises(ConfigError):
        model(torch.randn(2, 3), torch.tensor([1, 2]))
