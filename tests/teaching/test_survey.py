"""Each claim of chapter 00's "What the survey got wrong", checked numerically."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from medbench import ConfigError, DataError
from medbench.teaching import losses, minibatch, optimizers, survey, two_layer


@pytest.fixture
def logistic_problem():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 5, generator=g, dtype=torch.float64)
    y = (X[:, 0] - X[:, 1] + 0.3 * torch.randn(200, generator=g, dtype=torch.float64) > 0).double()

    def loss(w, idx=None):
        Xi, yi = (X, y) if idx is None else (X[idx], y[idx])
        return F.binary_cross_entropy_with_logits(Xi @ w[:-1] + w[-1], yi)

    return loss, torch.zeros(6, dtype=torch.float64)


def test_adam_step_ratios_match_their_closed_forms():
    t = np.arange(1, 3001)
    for variant in survey.ADAM_VARIANTS:
        measured = survey.step_ratios(lambda p, v=variant: survey.make_adam(v, p, lr=0.01), len(t), 0.01)
        assert np.allclose(measured, survey.adam_step_ratio_formula(variant, t), rtol=1e-3), variant
    unc = survey.adam_step_ratio_formula("uncorrected", t)
    # too LARGE, not too small: 0.1 / sqrt(0.001) at t=1, peak 6.57 at t=12, > 1.1 until t=1750
    assert unc[0] == pytest.approx(0.1 / math.sqrt(0.001)) == pytest.approx(3.1623, abs=1e-4)
    assert unc.max() == pytest.approx(6.5685, abs=1e-3) and unc.argmax() + 1 == 12
    assert np.nonzero(unc > 1.1)[0].max() + 1 == 1750
    assert survey.adam_step_ratio_formula("survey", t)[0] == pytest.approx(0.1 / 0.001**1.5)  # 3162.3
    with pytest.raises(ConfigError, match="choose from"):
        survey.make_adam("adamw", [torch.zeros(1, requires_grad=True)], lr=0.1)


def test_first_steps_on_a_real_loss(logistic_problem):
    loss_fn, w0 = logistic_problem
    assert survey.first_step_ratio("torch", loss_fn, w0, lr=0.01) == pytest.approx(1.0, rel=1e-5)
    assert survey.first_step_ratio("uncorrected", loss_fn, w0, lr=0.01) == pytest.approx(3.1623, rel=1e-4)
    assert 3100 < survey.first_step_ratio("survey", loss_fn, w0, lr=0.01) <= 3162.3


def test_corrected_adam_is_torch_adam_and_survey_adam_is_not(logistic_problem):
    loss_fn, w0 = logistic_problem
    torch_adam = lambda p: torch.optim.Adam(p, lr=0.01)  # noqa: E731
    assert survey.max_abs_diff(lambda p: survey.make_adam("torch", p, lr=0.01), torch_adam, loss_fn, w0) < 1e-8
    assert survey.max_abs_diff(lambda p: survey.make_adam("survey", p, lr=0.01), torch_adam, loss_fn, w0) > 1.0


def test_ema_momentum_is_torch_dampening_and_ten_times_smaller_than_torch_momentum(logistic_problem):
    loss_fn, w0 = logistic_problem
    steady = survey.momentum_steady_state_ratio(beta=0.9)
    assert steady["torch momentum"] == pytest.approx(10.0, rel=1e-6)
    assert steady["survey EMA"] == pytest.approx(1.0, rel=1e-6) == steady["torch dampening"]
    assert steady["ratio"] == pytest.approx(10.0, rel=1e-6)
    assert survey.momentum_steady_state_ratio(beta=0.5)["ratio"] == pytest.approx(2.0, rel=1e-6)
    damp = lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.9)  # noqa: E731
    mom = lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)  # noqa: E731
    assert survey.max_abs_diff(lambda p: survey.EMAMomentum(p, lr=0.1, beta=0.9, init="grad"), damp, loss_fn, w0) < 1e-8
    assert survey.max_abs_diff(lambda p: survey.EMAMomentum(p, lr=1.0, beta=0.9), mom, loss_fn, w0) < 1e-8
    assert survey.max_abs_diff(lambda p: survey.EMAMomentum(p, lr=0.1, beta=0.9), mom, loss_fn, w0) > 0.1
    with pytest.raises(ConfigError, match="init"):
        survey.EMAMomentum([w0.clone().requires_grad_(True)], lr=0.1, init="ones")


def test_matvec_checks_shapes():
    A = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(DataError, match=r"A \(2, 2\) by x \(3,\).*2 columns.*3 entries"):
        survey.matvec(A, torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(DataError, match="matrix A"):
        survey.matvec(A, A)
    assert survey.matvec(A, torch.tensor([1.0, 2.0])).tolist() == [5.0, 11.0]


def test_double_softmax_has_a_floor_and_smaller_gradients():
    for c in (2, 5):
        z = torch.full((1, c), -30.0, dtype=torch.float64)
        z[0, 0] = 30.0
        assert float(F.cross_entropy(z, torch.tensor([0]))) < 1e-12
        assert float(survey.double_softmax_cross_entropy(z, torch.tensor([0]))) == pytest.approx(
            survey.double_softmax_floor(c), abs=1e-9)
    assert survey.double_softmax_floor(2) == pytest.approx(0.3133, abs=1e-4)
    z = torch.tensor([[-1.0, 1.0]], dtype=torch.float64, requires_grad=True)
    (g_ok,) = torch.autograd.grad(F.cross_entropy(z, torch.tensor([0])), z)
    (g_bad,) = torch.autograd.grad(survey.double_softmax_cross_entropy(z, torch.tensor([0])), z)
    assert float(g_bad.norm()) < 0.25 * float(g_ok.norm())


def test_log_loss_forms():
    from sklearn.metrics import log_loss

    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(30, 4, generator=g, dtype=torch.float64), dim=1)
    y = torch.randint(0, 4, (30,), generator=g)
    ours = float(survey.log_loss_multiclass(p, y))
    assert ours == pytest.approx(log_loss(y.numpy(), p.numpy(), labels=[0, 1, 2, 3]), abs=1e-12)
    assert ours == pytest.approx(float(F.nll_loss(torch.log(p), y)), abs=1e-12)
    assert float(survey.log_loss_binary_form(p, y)) > ours + 0.1  # a different objective
    # same p(true class), different spread of the rest: equal multi-class loss, different binary form
    a = torch.tensor([[0.6, 0.2, 0.2]], dtype=torch.float64)
    b = torch.tensor([[0.6, 0.3999, 0.0001]], dtype=torch.float64)
    y0 = torch.tensor([0])
    assert float(survey.log_loss_multiclass(a, y0)) == pytest.approx(float(survey.log_loss_multiclass(b, y0)))
    assert abs(float(survey.log_loss_binary_form(a, y0)) - float(survey.log_loss_binary_form(b, y0))) > 0.05
    uniform = torch.full((1, 3), 1 / 3, dtype=torch.float64)
    assert float(survey.log_loss_binary_form(uniform, y0)) == pytest.approx(math.log(3) + 2 * math.log(1.5))


def test_naive_bce_inf_thresholds():
    t32, t64 = losses.naive_bce_inf_logit(torch.float32), losses.naive_bce_inf_logit(torch.float64)
    assert t32 == pytest.approx(24 * math.log(2), abs=0.01) and t64 == pytest.approx(53 * math.log(2), abs=0.01)
    y0 = torch.tensor([0.0], dtype=torch.float64)
    assert torch.isfinite(losses.bce_naive(torch.tensor([36.0], dtype=torch.float64), y0))
    assert not torch.isfinite(losses.bce_naive(torch.tensor([37.0], dtype=torch.float64), y0))
    assert torch.isfinite(losses.bce_naive(torch.tensor([16.0]), y0.float()))
    assert not torch.isfinite(losses.bce_naive(torch.tensor([17.0]), y0.float()))


def test_minibatch_noise_follows_the_sampling_formula(logistic_problem):
    loss_fn, w0 = logistic_problem
    table = minibatch.gradient_noise_table(loss_fn, w0, 200, [4, 16, 64, 200], n_draws=300, seed=0)
    assert np.allclose(table.loc[[4, 16, 64], "measured / predicted"], 1.0, atol=0.15)
    assert table.loc[200, "rms |g_B - g| measured"] < 1e-12  # B = N is gradient descent: no noise
    assert table.loc[4, "rms |g_B - g| measured"] > 3 * table.loc[64, "rms |g_B - g| measured"]
    gd = minibatch.minibatch_sgd_curve(loss_fn, w0, 200, lr=0.5, batch_size=200, steps=30)
    same = minibatch.minibatch_sgd_curve(loss_fn, w0, 200, lr=0.5, batch_size=200, steps=30, seed=7)
    assert np.allclose(gd, same, rtol=1e-12)  # full batch: the seed changes only the summation order
    assert all(b < a for a, b in zip(gd, gd[1:]))  # full-batch GD at a small lr descends monotonically
    sgd = minibatch.minibatch_sgd_curve(loss_fn, w0, 200, lr=0.5, batch_size=4, steps=30)
    assert len(sgd) == 30 and sgd[-1] < sgd[0] and any(b > a for a, b in zip(sgd, sgd[1:]))
    with pytest.raises(ConfigError, match="batch"):
        minibatch.minibatch_sgd_curve(loss_fn, w0, 200, lr=0.5, batch_size=0, steps=3)


def test_uncorrected_adam_spikes_where_corrected_adam_does_not():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(120, 6, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    params = two_layer.init_params(6, 8, 2, seed=0)
    _, ok = two_layer.train_full_batch(params, x, y, lambda p: optimizers.Adam(p, lr=0.1, betas=(0.9, 0.9999)), 40)
    _, bad = two_layer.train_full_batch(params, x, y, lambda p: optimizers.Adam(p, lr=0.1, betas=(0.9, 0.9999),
                                                                     bias_correction=False), 40)
    assert max(ok) == ok[0] and ok[-1] < 0.5 * ok[0]
    assert max(bad) > 2 * bad[0]
