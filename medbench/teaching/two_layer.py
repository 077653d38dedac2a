"""A two-layer network's forward pass, loss and gradients written out by hand.

``x (N, D) -> a = x W1 + b1 (N, H) -> h = relu(a) -> z = h W2 + b2 (N, C)``,
loss = mean cross-entropy of ``z`` against integer labels ``y (N,)``.
"""
from __future__ import annotations

import torch

from medbench.teaching.losses import cross_entropy


def init_params(d_in: int, hidden: int, n_classes: int, seed: int = 0, dtype=torch.float32) -> dict[str, torch.Tensor]:
    """He-initialised weights ``W1 (D, H)``, ``W2 (H, C)`` and zero biases."""
    g = torch.Generator().manual_seed(seed)
    return {
        "W1": torch.randn(d_in, hidden, generator=g, dtype=dtype) * (2.0 / d_in) ** 0.5,
        "b1": torch.zeros(hidden, dtype=dtype),
        "W2": torch.randn(hidden, n_classes, generator=g, dtype=dtype) * (2.0 / hidden) ** 0.5,
        "b2": torch.zeros(n_classes, dtype=dtype),
    }


def forward(params: dict, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Forward pass; returns every intermediate (``a``, ``h``, ``z``) for the backward pass."""
    a = x @ params["W1"] + params["b1"]
    h = a.clamp_min(0)
    z = h @ params["W2"] + params["b2"]
    return {"a": a, "h": h, "z": z}


def manual_gradients(params: dict, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Loss and gradients by the chain rule, no autograd.

    dL/dz = (softmax(z) - onehot(y)) / N; dW2 = h^T dz; db2 = sum_n dz;
    dh = dz W2^T; da = dh * [a > 0]; dW1 = x^T da; db1 = sum_n da.
    """
    with torch.no_grad():
        cache = forward(params, x)
        z = cache["z"]
        n = x.shape[0]
        loss = cross_entropy(z, y)
        dz = torch.softmax(z, dim=1)
        dz[torch.arange(n), y] -= 1.0
        dz /= n
        dh = dz @ params["W2"].T
        da = dh * (cache["a"] > 0).to(x.dtype)
        grads = {"W2": cache["h"].T @ dz, "b2": dz.sum(0), "W1": x.T @ da, "b1": da.sum(0)}
    return loss, grads


def autograd_gradients(params: dict, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """The same loss and gradients from torch autograd and ``F.cross_entropy``."""
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    loss = torch.nn.functional.cross_entropy(forward(leaves, x)["z"], y)
    loss.backward()
    return loss.detach(), {k: v.grad for k, v in leaves.items()}


def max_grad_difference(params: dict, x: torch.Tensor, y: torch.Tensor) -> float:
    """Largest |manual - autograd| over every gradient entry."""
    _, ours = manual_gradients(params, x, y)
    _, ref = autograd_gradients(params, x, y)
    return max(float((ours[k] - ref[k]).abs().max()) for k in params)


def train_full_batch(params: dict, x: torch.Tensor, y: torch.Tensor, make_optimizer, steps: int) -> tuple[dict, list[float]]:
    """Full-batch training with :func:`manual_gradients` and a medbench.teaching optimizer.

    Args:
        params: starting weights (copied, not changed).
        x: inputs ``(N, D)``; y: integer classes ``(N,)``.
        make_optimizer: builds the optimizer from a list of tensors, e.g.
            ``lambda p: optimizers.Adam(p, lr=0.01)``.
        steps: number of updates.

    Returns:
        ``(trained weights, training loss before each update)``.
    """
    leaves = {k: v.detach().clone() for k, v in params.items()}
    opt = make_optimizer(list(leaves.values()))
    curve = []
    for _ in range(steps):
        loss, grads = manual_gradients(leaves, x, y)
        for k, p in leaves.items():
            p.grad = grads[k]
        opt.step()
        curve.append(float(loss))
    return leaves, curve
