import numpy as np
import pytest
import torch
import torch.nn.functional as F

from medbench import ConfigError
from medbench.teaching import activations, losses, optimizers, surfaces, two_layer


@pytest.fixture
def logistic_problem():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 5, generator=g, dtype=torch.float64)
    y = (X[:, 0] - X[:, 1] + 0.3 * torch.randn(200, generator=g, dtype=torch.float64) > 0).double()
    return lambda w: F.binary_cross_entropy_with_logits(X @ w[:-1] + w[-1], y), torch.zeros(6, dtype=torch.float64)


@pytest.mark.parametrize("name,hp", [
    ("sgd", {"lr": 0.1}),
    ("momentum", {"lr": 0.1, "momentum": 0.9}),
    ("momentum", {"lr": 0.05, "momentum": 0.5}),
    ("adam", {"lr": 0.01}),
    ("adam", {"lr": 0.1, "betas": (0.8, 0.99), "eps": 1e-6}),
])
def test_optimizers_match_torch_every_step(logistic_problem, name, hp):
    loss_fn, w0 = logistic_problem
    assert optimizers.compare_with_torch(name, loss_fn, w0, steps=100, **hp) <= 1e-10


def test_adam_without_bias_correction_is_not_torch_adam(logistic_problem):
    loss_fn, w0 = logistic_problem
    w = w0.clone().requires_grad_(True)
    ours = optimizers.Adam([w], lr=0.01, bias_correction=False)
    ref_w = w0.clone().requires_grad_(True)
    ref = torch.optim.Adam([ref_w], lr=0.01)
    for opt, p in ((ours, w), (ref, ref_w)):
        opt.zero_grad()
        loss_fn(p).backward()
        opt.step()
    # First step: corrected Adam moves each coordinate by ~lr; uncorrected by ~lr*(1-b1)/sqrt(1-b2) = 3.16 lr.
    assert torch.allclose(ref_w.detach().abs(), torch.full_like(ref_w, 0.01), rtol=1e-3)
    assert torch.allclose(w.detach().abs(), torch.full_like(w, 0.01 * 0.1 / 0.001**0.5), rtol=1e-3)


def test_optimizer_arguments_are_checked():
    p = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ConfigError, match="lr"):
        optimizers.SGD(p, lr=0)
    with pytest.raises(ConfigError, match="momentum"):
        optimizers.Momentum(p, lr=0.1, momentum=1.0)
    with pytest.raises(ConfigError, match="unknown optimizer 'rmsprop'"):
        optimizers.make_optimizer("rmsprop", p, lr=0.1)


def test_activation_derivatives_match_autograd():
    x = torch.linspace(-8, 8, 1601, dtype=torch.float64)
    for name, (df_value, df_grad) in activations.check_against_torch(x).items():
        assert df_value < 1e-12, name
        assert df_grad < 1e-12, name
    with pytest.raises(ConfigError, match="choose from"):
        activations.get_activation("swishy")


def test_losses_match_torch_and_stay_finite_where_naive_forms_overflow():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(50, generator=g, dtype=torch.float64) * 3
    y = (torch.rand(50, generator=g, dtype=torch.float64) > 0.5).double()
    assert torch.isclose(losses.bce_with_logits(z, y), F.binary_cross_entropy_with_logits(z, y))
    zc = torch.randn(50, 4, generator=g, dtype=torch.float64)
    yc = torch.randint(0, 4, (50,), generator=g)
    assert torch.isclose(losses.cross_entropy(zc, yc), F.cross_entropy(zc, yc))
    assert torch.isclose(losses.mse(z, y), F.mse_loss(z, y))

    big = torch.tensor([800.0, -800.0], dtype=torch.float64)
    wrong = torch.tensor([0.0, 1.0], dtype=torch.float64)
    assert not torch.isfinite(losses.bce_naive(big, wrong))
    assert torch.isclose(losses.bce_with_logits(big, wrong), torch.tensor(800.0, dtype=torch.float64))
    zbig = torch.tensor([[800.0, 0.0, -800.0]], dtype=torch.float64)
    assert not torch.isfinite(losses.cross_entropy_naive(zbig, torch.tensor([2])))
    assert torch.isclose(losses.cross_entropy(zbig, torch.tensor([2])), torch.tensor(1600.0, dtype=torch.float64))


def test_two_layer_manual_gradients_equal_autograd():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(40, 7, generator=g)
    y = torch.randint(0, 3, (40,), generator=g)
    params = two_layer.init_params(7, 11, 3, seed=3)
    loss_m, grads_m = two_layer.manual_gradients(params, x, y)
    loss_a, _ = two_layer.autograd_gradients(params, x, y)
    assert torch.isclose(loss_m, loss_a, atol=1e-6)
    assert {k: v.shape for k, v in grads_m.items()} == {k: v.shape for k, v in params.items()}
    assert two_layer.max_grad_difference(params, x, y) < 1e-5
    # A wrong gradient is caught: the check is not vacuous.
    params_bad = dict(params)
    _, grads = two_layer.manual_gradients(params_bad, x, y)
    grads["W1"] = grads["W1"] * 1.01
    _, ref = two_layer.autograd_gradients(params, x, y)
    assert float((grads["W1"] - ref["W1"]).abs().max()) > 1e-5


def test_trajectories_converge_or_stop_at_divergence():
    path = surfaces.trajectory("ill_conditioned", "adam", steps=300, lr=0.3)
    assert path.shape == (301, 2)
    assert np.linalg.norm(path[-1]) < 0.1
    # SGD is unstable on the steep direction (curvature 25) once lr > 2/25.
    diverged = surfaces.trajectory("ill_conditioned", "sgd", steps=500, lr=0.1)
    assert len(diverged) < 501
    assert len(surfaces.trajectory("ill_conditioned", "sgd", steps=500, lr=0.07)) == 501
    with pytest.raises(ConfigError, match="choose from"):
        surfaces.trajectory("bowl", "sgd")


def test_optimizer_explorer_redraws_on_control_change():
    from medbench.widgets import OptimizerExplorer

    ex = OptimizerExplorer(surface="ill_conditioned", optimizers=("sgd",), lr=0.01, steps=50)
    before = ex.image.value
    assert set(ex.paths) == {"sgd"} and before[:4] == b"\x89PNG"
    ex.lr.value = 0.1  # above 2/25: SGD diverges
    assert ex.image.value != before
    assert "diverged: sgd" in ex.status.value
    ex.optimizers.value = ("sgd", "adam")
    assert set(ex.paths) == {"sgd", "adam"}
    assert ex.hyperparameters("adam")["betas"] == (ex.beta1.value, ex.beta2.value)
