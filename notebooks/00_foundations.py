# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00 · Neural-network foundations
#
# **Learning objectives.** After this chapter you can
# - name the common activation functions, their derivatives, and say why some make gradients vanish;
# - write mean squared error and (binary and multi-class) cross-entropy, and say *when and why*
#   the literal formulas return `inf` and how the stable forms avoid it;
# - write gradient descent, momentum and Adam from their formulas, and check them step by step
#   against `torch.optim`, including what Adam's bias correction does to the step size;
# - tell full-batch gradient descent from minibatch SGD and measure a minibatch gradient's noise;
# - back-propagate through a two-layer network by hand and compare with autograd;
# - spot and correct five errors of the course's source survey (section 6).
#
# **Prerequisites:** Python and NumPy; derivatives and the chain rule; matrix products.
# No GPU, no internet.
#
# **Expected run time:** under a minute at the `default` profile on a laptop CPU (2 cores).
#
# Every function used here lives in `medbench.teaching` — open it to read the formulas as code.

# %% tags=["parameters"]
seed = 0  # random seed for every library
check_steps = 100  # optimizer steps compared against torch.optim
surface = "ill_conditioned"  # loss surface the explorer opens on
lr = 0.03  # learning rate the explorer opens with
trajectory_steps = 150  # steps drawn on the loss surfaces
hidden = 16  # hidden units of the two-layer network
train_steps = 300  # full-batch Adam steps to train the two-layer network
spike_lr = 0.1  # Adam learning rate of the bias-correction "break" demo
noise_draws = 200  # minibatches drawn per batch size to measure gradient noise

# %%
import numpy as np
import pandas as pd
import torch
from IPython.display import display
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

import medbench
from medbench.data.tabular import breast_cancer
from medbench.plots.foundations import plot_activations, plot_loss_curves, plot_step_ratios, plot_trajectory_grid
from medbench.teaching import activations, losses, minibatch, optimizers, surfaces, survey, two_layer
from medbench.widgets import OptimizerExplorer

medbench.seed_everything(seed)
torch.set_default_dtype(torch.float64)  # float64 so that differences we measure are the algorithms', not rounding's

# %% [markdown]
# ## 1. Activations and their derivatives
#
# A layer computes $f(Wx + b)$. Without a non-linear $f$, stacked layers collapse into one
# linear map. During back-propagation each layer multiplies the gradient by $f'$, so the size
# of $f'$ matters: the sigmoid's derivative is at most $0.25$, so ten sigmoid layers can shrink a
# gradient by $0.25^{10} \approx 10^{-6}$ (the *vanishing gradient*). ReLU's derivative is exactly 1 for
# positive inputs — but 0 for negative ones, so a unit that only sees negative inputs stops
# learning (a "dead" ReLU); leaky ReLU, ELU, GELU and SiLU keep some gradient there.

# %%
plot_activations();

# %% [markdown]
# Our formulas ($f$, and its derivative $f'$ written by hand) against torch's function and its
# autograd derivative on 2,001 points in $[-8, 8]$:

# %%
checks = activations.check_against_torch(torch.linspace(-8, 8, 2001))
pd.DataFrame(
    {name: {"max |f - torch|": d[0], "max |f' - autograd|": d[1], "note": activations.ACTIVATIONS[name].note}
     for name, d in checks.items()}
).T

# %% [markdown]
# Every difference is at the level of float64 rounding ($\sim 10^{-16}$) or exactly 0: the
# formulas in the note column are the functions torch computes. A wrong derivative (say
# $\sigma'$ written as $\sigma$) would show differences of order $0.1$–$1$.
#
# ## 2. Losses, and why the "stable" forms matter
#
# | loss | formula | stable form used |
# |---|---|---|
# | MSE | $\operatorname{mean}\,(\hat{y} - y)^2$ | – |
# | binary cross-entropy (logit $z$, label $y$) | $-[\,y \log \sigma(z) + (1-y) \log(1-\sigma(z))\,]$ | $\max(z, 0) - z\,y + \log(1 + e^{-\lvert z \rvert})$ |
# | multi-class cross-entropy | $-\log \operatorname{softmax}(z)_y$ | $\operatorname{logsumexp}(z) - z_y$, with $\max(z)$ subtracted inside the exp |
#
# The two forms are algebraically equal, but the literal one breaks in floating point, and
# *not* mainly because something overflows. For an example labelled $y = 0$ with logit $z > 0$,
# the naive BCE needs $\log(1 - \sigma(z))$, with $\sigma(z) = 1/(1 + e^{-z})$. Once $e^{-z}$ is smaller
# than half the gap between 1 and the next float ($2^{-24}$ in float32, $2^{-53}$ in float64),
# $1 + e^{-z}$ rounds to exactly 1, so $\sigma(z) = 1$, $1 - \sigma(z) = 0$ and the loss is $\infty$. That
# happens at $z > 24 \ln 2 \approx 16.6$ in float32 and $z > 53 \ln 2 \approx 36.7$ in float64 — logits a
# confident network produces routinely. (For $y = 1$ the naive loss fails only when $e^{-z}$
# overflows: $z < -88.7$ in float32, $z < -709.8$ in float64.) The naive multi-class form fails
# when $e^{z}$ overflows ($z > 88.7$ in float32, $z > 709.8$ in float64). This chapter computes in
# float64 (set above), so its thresholds are the float64 ones; networks train in float32, where
# they are far lower. That is why torch offers `BCEWithLogitsLoss` and `CrossEntropyLoss`
# taking logits, not probabilities.

# %%
naive_bce_inf_logit = {str(dt).split(".")[1]: losses.naive_bce_inf_logit(dt) for dt in (torch.float32, torch.float64)}
medbench.record("naive_bce_inf_logit_float32", naive_bce_inf_logit["float32"])
medbench.record("naive_bce_inf_logit_float64", naive_bce_inf_logit["float64"])
print("naive BCE of a label-0 example is inf above z =",
      ", ".join(f"{v:.2f} ({k})" for k, v in naive_bce_inf_logit.items()))
rows = []
for z in [10.0, 16.0, 17.0, 30.0, 36.0, 37.0, 100.0, 800.0]:
    yb = torch.tensor([0.0])  # label 0, logit z > 0: a confidently wrong prediction
    zc, yc = torch.tensor([[z, 0.0, -z]]), torch.tensor([2])
    with np.errstate(all="ignore"):
        rows.append({
            "logit z": z,
            "BCE naive float32": float(losses.bce_naive(torch.tensor([z], dtype=torch.float32), yb.float())),
            "BCE naive float64": float(losses.bce_naive(torch.tensor([z]), yb)),
            "BCE stable": float(losses.bce_with_logits(torch.tensor([z]), yb)),
            "BCE torch": float(torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor([z]), yb)),
            "CE naive float64": float(losses.cross_entropy_naive(zc, yc)),
            "CE stable": float(losses.cross_entropy(zc, yc)),
            "CE torch": float(torch.nn.functional.cross_entropy(zc, yc)),
        })
pd.DataFrame(rows).set_index("logit z")

# %% [markdown]
# **Reading the table.** The true BCE of a wrong prediction with logit $z$ is $\approx z$ (the stable
# and torch columns). The naive float32 column is already `inf` at $z = 17$ and the float64 one at
# $z = 37$, exactly at the thresholds printed above — not at the overflow of $e^{z}$. The naive
# multi-class loss (true value $2z$) stays correct until $e^{z}$ overflows, so it breaks only at $z = 800$.

# %%
pred, target = torch.randn(64), torch.randn(64)
mse_diff = float((losses.mse(pred, target) - torch.nn.functional.mse_loss(pred, target)).abs())
print(f"MSE: |ours - torch| = {mse_diff:.2e}")

# %% [markdown]
# ## 3. Optimizers from their formulas
#
# With gradient $g$ at step $t$ and learning rate $\eta$:
#
# - **Gradient descent (GD):** $\theta \leftarrow \theta - \eta\, g$. When $g$ is the gradient of the loss
#   averaged over the *whole* training set, as in this section, this is full-batch gradient
#   descent: deterministic. It is often called "SGD" (torch's class is `torch.optim.SGD`), but
#   it becomes *stochastic* gradient descent only when $g$ comes from a random minibatch (section 3.3).
# - **GD with momentum** (torch's convention): $b \leftarrow \mu b + g$, $\theta \leftarrow \theta - \eta\, b$,
#   with $b$ starting at $g$. Sutskever et al. (2013) write $v \leftarrow \mu v - \eta\, g;\ \theta \leftarrow \theta + v$
#   — the same thing while $\eta$ is constant. Under a constant gradient $b \to g / (1 - \mu)$: the step grows to
#   $10\,\eta\, g$ at $\mu = 0.9$.
# - **Adam** (Kingma & Ba, 2015, Algorithm 1):
#
# $$
# \begin{aligned}
# m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t, & v_t &= \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2, \\
# \hat{m}_t &= \frac{m_t}{1-\beta_1^t}, & \hat{v}_t &= \frac{v_t}{1-\beta_2^t}, \\
# \theta_t &= \theta_{t-1} - \eta\, \frac{\hat{m}_t}{\sqrt{\hat{v}_t} + \epsilon}.
# \end{aligned}
# $$
#
# The divisions by $1 - \beta^t$ are the **bias correction**: $m$ and $v$ start at zero, so early on
# they are biased towards zero; many textbook and blog versions of Adam omit the correction.
#
# We test our implementations where it counts: logistic regression on the Wisconsin breast
# cancer data (569 patients, 30 features), running ours and `torch.optim` side by side from the
# same start and comparing every parameter after each of the steps.

# %%
data = breast_cancer(seed=seed)
X = torch.tensor(data.X_train)
y = torch.tensor(data.y_train, dtype=torch.float64)
w0 = torch.zeros(X.shape[1] + 1)


def logistic_loss(w, idx=None):
    """Mean binary cross-entropy of a logistic regression (weights w[:-1], bias w[-1]) on rows idx (all if None)."""
    Xi, yi = (X, y) if idx is None else (X[idx], y[idx])
    return losses.bce_with_logits(Xi @ w[:-1] + w[-1], yi)


diffs = {
    "gradient descent (torch.optim.SGD)": optimizers.compare_with_torch("sgd", logistic_loss, w0, check_steps, lr=0.1),
    "momentum (torch.optim.SGD, momentum=0.9)": optimizers.compare_with_torch(
        "momentum", logistic_loss, w0, check_steps, lr=0.1, momentum=0.9),
    "Adam (torch.optim.Adam)": optimizers.compare_with_torch(
        "adam", logistic_loss, w0, check_steps, lr=0.01, betas=(0.9, 0.999)),
}
pd.Series(diffs, name=f"max |ours - torch.optim| over {check_steps} steps").to_frame()

# %%
medbench.record("adam_max_abs_diff_vs_torch", diffs["Adam (torch.optim.Adam)"])
medbench.record("sgd_momentum_max_abs_diff_vs_torch", diffs["momentum (torch.optim.SGD, momentum=0.9)"])

# %% [markdown]
# The largest difference between our parameters and torch's, over every step, is at float64
# rounding level ($\lesssim 10^{-15}$): the three formulas above are exactly what torch runs. An
# implementation that dropped Adam's bias correction would differ by $\sim 10^{-2}$ after the first step.
#
# ### 3.1 What the bias correction does to the step size
#
# Take a constant gradient $g$. Then $m_t = (1-\beta_1^t)\, g$ and $v_t = (1-\beta_2^t)\, g^2$, so the step
# divided by $\eta$ is
#
# $$
# \text{with correction: } \frac{\hat m_t}{\sqrt{\hat v_t}} = 1, \qquad
# \text{without: } \frac{m_t}{\sqrt{v_t}} = \frac{1-\beta_1^t}{\sqrt{1-\beta_2^t}} .
# $$
#
# Without correction, $m$ is shrunk by $1-\beta_1^t$ but $\sqrt{v}$ by the much smaller $\sqrt{1-\beta_2^t}$, so
# the early steps are too **large**, not too small: $0.1/\sqrt{0.001} = 3.16\,\eta$ at $t = 1$ with the
# default $\beta_1 = 0.9,\ \beta_2 = 0.999$, rising to $6.57\,\eta$ at $t = 12$ and still above $1.1\,\eta$ after
# 1,750 steps. With $\beta_2 = 0.9999$ (recommended for sparse gradients) the peak is $\approx 20\,\eta$. We
# measure it by running the optimizers on a linear loss (constant gradient):

# %%
T_ratio = 5000
ratio_curves = {
    "Adam, bias-corrected (torch)": survey.step_ratios(lambda p: survey.make_adam("torch", p, lr=0.01), T_ratio, 0.01),
    "Adam, no correction": survey.step_ratios(lambda p: survey.make_adam("uncorrected", p, lr=0.01), T_ratio, 0.01),
    "Adam, no correction, beta2 = 0.9999": survey.step_ratios(
        lambda p: survey.make_adam("uncorrected", p, lr=0.01, betas=(0.9, 0.9999)), T_ratio, 0.01),
}
plot_step_ratios(ratio_curves);

# %%
uncorrected = ratio_curves["Adam, no correction"]
step_table = pd.DataFrame({
    name: {"step 1 / eta": r[0], "largest step / eta": r.max(), "at step": int(np.round(r, 6).argmax()) + 1,
           "last step with ratio > 1.1": int(np.nonzero(r > 1.1)[0].max()) + 1 if (r > 1.1).any() else 0}
    for name, r in ratio_curves.items()}).T
medbench.record("adam_uncorrected_first_step_ratio", float(uncorrected[0]))
medbench.record("adam_uncorrected_peak_step_ratio", float(uncorrected.max()))
step_table

# %% [markdown]
# The corrected Adam's step is $\eta$ (to within $\epsilon$) from the first step on: the learning rate
# means what it says. Without the correction the step is $3.16\,\eta$ at once, $6.57\,\eta$ at its peak,
# and the learning rate you chose is exceeded for ~1,750 steps ($\beta_2 = 0.999$) or ~17,000
# ($\beta_2 = 0.9999$, beyond the plot's last line).
#
# **When the too-large steps break training.** On an easy convex problem larger steps can even
# look *faster* — uncorrected Adam is then just Adam with a larger, uncontrolled learning rate.
# They hurt where the learning rate was already near its limit. Below, the two-layer network of
# section 5 is trained on the breast-cancer data with Adam at $\eta =$ `spike_lr`, with and without the
# correction. The corrected runs never rise above their starting loss; the uncorrected ones blow
# up in their first few steps (the loss jumps to many times its starting value) and then spend
# tens of steps recovering — on a harder problem, or in a deeper network, such a spike can end
# a run (dead ReLUs, `nan`). A training loss alone can flatter a run that memorised its data, so
# the table also gives the cross-entropy on a validation quarter of the training patients, held
# out of this demo (the test patients stay untouched until section 5).

# %%
X32, y32 = torch.tensor(data.X_train, dtype=torch.float32), torch.tensor(data.y_train)
params = two_layer.init_params(X32.shape[1], hidden, 2, seed=seed)
fit_idx, val_idx = train_test_split(np.arange(len(y32)), test_size=0.25, random_state=seed, stratify=data.y_train)
spike_curves, spike_rows = {}, {}
for beta2 in (0.999, 0.9999):
    for label, bc in (("corrected", True), ("no correction", False)):
        name = f"adam {label}, beta2={beta2}"
        w, c = two_layer.train_full_batch(params, X32[fit_idx], y32[fit_idx],
                               lambda p: optimizers.Adam(p, lr=spike_lr, betas=(0.9, beta2), bias_correction=bc), 100)
        spike_curves[name] = c
        spike_rows[name] = {"start loss": c[0], "largest loss / start": max(c) / c[0], "loss at step 50": c[49],
                            "loss at step 100": c[-1],
                            "validation loss at step 100": float(losses.cross_entropy(
                                two_layer.forward(w, X32[val_idx])["z"], y32[val_idx]))}
plot_loss_curves(spike_curves, ylabel="training cross-entropy (two-layer net)");

# %%
spike_table = pd.DataFrame(spike_rows).T
corrected_rows = [name for name in spike_table.index if "corrected" in name and "no correction" not in name]
medbench.record("adam_corrected_loss_spike", float(spike_table.loc[corrected_rows, "largest loss / start"].max()))
medbench.record("adam_uncorrected_loss_spike", spike_table.loc["adam no correction, beta2=0.9999",
                                                               "largest loss / start"])
val_ratio = (spike_table.loc["adam no correction, beta2=0.999", "validation loss at step 100"]
             / spike_table.loc["adam corrected, beta2=0.999", "validation loss at step 100"])
medbench.record("adam_uncorrected_val_loss_ratio", float(val_ratio))
print(f"validation cross-entropy at step 100, beta2 = 0.999: {val_ratio:.1f} x the corrected run's")
spike_table

# %% [markdown]
# "largest loss / start" is 1 for a run that never got worse than where it began. The corrected
# Adam stays at 1 for both $\beta_2$. Without correction, at $\beta_2 = 0.9999$ (step ratio peaking at
# $\approx 20$) the training loss jumps by more than an order of magnitude in the first steps; at
# $\beta_2 = 0.999$ the size of that jump depends on the seed (from barely visible to several-fold).
#
# Read the training columns with care: every run ends near zero *training* loss, because a
# 16-unit network at $\eta = 0.1$ can memorise 319 patients, so "loss at step 100" cannot tell the
# runs apart — it even looks best for a run that broke. The validation column can: the uncorrected
# runs land in solutions whose cross-entropy on unseen patients is many times the corrected run's
# (printed above). That is what "too-large early steps" costs: not a slower start, a worse model.
#
# ### 3.2 Minibatch SGD and its noise
#
# Everything above used the gradient over all $N = 426$ training patients. *Stochastic* gradient
# descent replaces it by the gradient $g_B$ over a random minibatch of $B$ patients. $g_B$ is an
# unbiased estimate of $g$ with, for a batch drawn without replacement,
#
# $$
# \mathbb{E}\,\lVert g_B - g \rVert^2 = \frac{\sigma^2}{B}\,\frac{N - B}{N - 1}, \qquad
# \sigma^2 = \frac{1}{N}\sum_{i=1}^N \lVert g_i - g \rVert^2 ,
# $$
#
# where $g_i$ is patient $i$'s own gradient. The noise falls as $1/\sqrt{B}$ and vanishes at $B = N$. We
# measure it at the starting point $w_0$ over `noise_draws` minibatches per size:

# %%
noise = minibatch.gradient_noise_table(logistic_loss, w0, len(y), [1, 8, 32, 128, len(y)], n_draws=noise_draws,
                                       seed=seed)
medbench.record("minibatch_noise_measured_over_predicted_b32", float(noise.loc[32, "measured / predicted"]))
noise

# %% [markdown]
# The measured RMS deviation follows the formula (ratio near 1; it wanders by a few percent
# because it is itself estimated from `noise_draws` draws), and relative to the full gradient's
# size a single-patient gradient is mostly noise while $B = 128$ is within a few tens of
# percent. At $B = N$ the noise is exactly 0: that is gradient descent. The curves below train the
# same logistic regression with the same $\eta$: minibatch SGD's full-data loss jitters from step to
# step, more so for small batches, while full-batch GD descends smoothly (each SGD step is
# also $N/B$ times cheaper).

# %%
sgd_curves = {f"sgd, batch {b}" if b < len(y) else "gradient descent (full batch)":
              minibatch.minibatch_sgd_curve(logistic_loss, w0, len(y), lr=0.5, batch_size=b, steps=check_steps,
                                            seed=seed)
              for b in (8, 32, len(y))}
plot_loss_curves(sgd_curves, ylabel="full-data BCE (logistic regression)");

# %% [markdown]
# ## 4. Watching optimizers move
#
# Three 2-D surfaces, each hard in its own way: an **ill-conditioned** bowl (25× steeper in $y$
# than in $x$), the **Rosenbrock** banana valley, and a **saddle**. The black dot is the start,
# the red star a minimum. The gradient here is exact (no minibatches), so "sgd" is plain
# gradient descent. Learning rates are chosen per surface so that each method is shown near its
# best; in the explorer below you can break them.

# %%
settings = {
    "ill_conditioned": {"sgd": {"lr": 0.075}, "momentum": {"lr": 0.02, "momentum": 0.9}, "adam": {"lr": 0.3}},
    "rosenbrock": {"sgd": {"lr": 0.001}, "momentum": {"lr": 0.0005, "momentum": 0.9}, "adam": {"lr": 0.05}},
    "saddle": {"sgd": {"lr": 0.05}, "momentum": {"lr": 0.02, "momentum": 0.9}, "adam": {"lr": 0.05}},
}
paths = {
    s: {name: surfaces.trajectory(s, name, steps=trajectory_steps, **hp) for name, hp in per_opt.items()}
    for s, per_opt in settings.items()
}
plot_trajectory_grid(paths);

# %% [markdown]
# On the ill-conditioned bowl gradient descent's learning rate is limited by the steep direction
# (it diverges above $\eta = 2/25 = 0.08$), so it crawls along the flat one. Momentum accumulates
# speed along the flat direction; Adam rescales each coordinate by its own gradient size.
#
# **Try it:** pick a surface and optimizers, move the learning rate, momentum and betas.
# Raise gradient descent's learning rate above 0.08 on the ill-conditioned surface and watch it diverge.

# %%
explorer = OptimizerExplorer(surface=surface, lr=lr, steps=trajectory_steps)
explorer

# %% [markdown]
# ## 5. A two-layer network by hand
#
# $$
# x \ (N, 30) \;\to\; a = x W_1 + b_1 \;\to\; h = \operatorname{ReLU}(a) \;\to\; z = h W_2 + b_2 \ (N, 2)
# \;\to\; \text{cross-entropy}
# $$
#
# Back-propagation is the chain rule applied from the loss backwards:
#
# $$
# \begin{aligned}
# \frac{\partial L}{\partial z} &= \frac{\operatorname{softmax}(z) - \operatorname{onehot}(y)}{N} \\
# \frac{\partial L}{\partial W_2} &= h^\top \frac{\partial L}{\partial z}, &
# \frac{\partial L}{\partial b_2} &= \sum_n \frac{\partial L}{\partial z} \\
# \frac{\partial L}{\partial h} &= \frac{\partial L}{\partial z} W_2^\top, &
# \frac{\partial L}{\partial a} &= \frac{\partial L}{\partial h} \odot [a > 0] \\
# \frac{\partial L}{\partial W_1} &= x^\top \frac{\partial L}{\partial a}, &
# \frac{\partial L}{\partial b_1} &= \sum_n \frac{\partial L}{\partial a}
# \end{aligned}
# $$
#
# `medbench.teaching.two_layer.manual_gradients` does exactly this; autograd does it for us.
# This comparison runs in float32, the precision networks are trained in.

# %%
loss_manual, grads_manual = two_layer.manual_gradients(params, X32, y32)
loss_auto, grads_auto = two_layer.autograd_gradients(params, X32, y32)
pd.DataFrame({k: {"shape": tuple(grads_manual[k].shape),
                  "max |manual - autograd|": float((grads_manual[k] - grads_auto[k]).abs().max())}
              for k in params}).T

# %% [markdown]
# Each gradient has the shape of its parameter, and the hand-derived values agree with
# autograd to float32 rounding ($\sim 10^{-7}$–$10^{-8}$); a wrong factor, say forgetting the $1/N$,
# would show up as differences of the size of the gradients themselves.

# %%
manual_grad_diff = two_layer.max_grad_difference(params, X32, y32)
print(f"loss by hand {float(loss_manual):.6f}, by torch {float(loss_auto):.6f}")
medbench.record("manual_grad_max_abs_diff", manual_grad_diff)

# %% [markdown]
# ### Training it with our Adam
#
# Full-batch training with *our* Adam and *our* gradients, then the accuracy on the held-out
# quarter of patients (the split is stratified; the scaler was fitted on the training part only).

# %%
leaves, train_curve = two_layer.train_full_batch(params, X32, y32, lambda p: optimizers.Adam(p, lr=0.01), train_steps)
plot_loss_curves({"adam (manual gradients)": train_curve}, ylabel="training cross-entropy");

# %%
with torch.no_grad():
    logits = two_layer.forward(leaves, torch.tensor(data.X_test, dtype=torch.float32))["z"]
test_accuracy = float((logits.argmax(1).numpy() == data.y_test).mean())
majority = float(max(data.y_test.mean(), 1 - data.y_test.mean()))
print(f"test accuracy on {len(data.y_test)} held-out patients: {test_accuracy:.3f} "
      f"(always predicting the majority class: {majority:.3f})")
medbench.record("two_layer_test_accuracy", test_accuracy)

# %% [markdown]
# ## 6. What the survey got wrong
#
# The survey this course started from prints several formulas that do not do what it says.
# Each is run below next to its correction, and each claim is checked by `tests/teaching`.
#
# ### 6.1 Adam without the bias correction of $m$
#
# The survey prints
# $\theta \leftarrow \theta - \alpha\, \dfrac{m_t}{\sqrt{v_t}\,(1-\beta_2^t)}$: $m$ is not corrected at all, and $v$'s correction
# divides *outside* the square root. Under a constant gradient its step over $\alpha$ is
# $(1-\beta_1^t) / (1-\beta_2^t)^{3/2}$: at $t = 1$, $0.1 / 0.001^{3/2} = 3162$ — a first step three thousand
# times the learning rate, still 34 times at $t = 100$. The correction is Kingma & Ba's
# algorithm of section 3 (which `torch.optim.Adam` runs, and ours matches).

# %%
first_steps = pd.DataFrame({
    variant: {"first step / eta, constant gradient": survey.adam_step_ratio_formula(variant, np.array([1.0]))[0],
              "first step / eta, measured on the logistic loss": survey.first_step_ratio(variant, logistic_loss, w0,
                                                                                          lr=0.01)}
    for variant in survey.ADAM_VARIANTS}).T.rename(index={"torch": "Kingma & Ba / torch", "uncorrected": "no correction",
                                                          "survey": "survey's formula"})
medbench.record("survey_adam_first_step_ratio", first_steps.loc["survey's formula",
                                                                "first step / eta, measured on the logistic loss"])
plot_step_ratios({v: survey.step_ratios(lambda p, v=v: survey.make_adam(v, p, lr=0.01), T_ratio, 0.01)
                  for v in survey.ADAM_VARIANTS}, title="Adam variants: step / learning rate");
first_steps

# %% [markdown]
# Measured on the real loss, the survey's first step is $\approx 3{,}160\,\eta$ on every weight (slightly
# under $3{,}162$ because of $\epsilon = 10^{-8}$ in the denominator); Kingma & Ba's is $\eta$. Trained with the
# survey's Adam at the learning rate section 5 uses ($\eta = 0.01$), the two-layer network's loss
# explodes on its first step and is still far above its starting value 50 steps later, while
# Kingma & Ba's Adam has long been descending:

# %%
_, survey_curve = two_layer.train_full_batch(params, X32, y32, lambda p: survey.SurveyAdam(p, lr=0.01), 50)
_, torch_curve = two_layer.train_full_batch(params, X32, y32, lambda p: optimizers.Adam(p, lr=0.01), 50)
pd.DataFrame({"survey's Adam": survey_curve, "Kingma & Ba's Adam": torch_curve}).iloc[[0, 1, 2, 5, 10, 49]].rename_axis(
    "step")

# %% [markdown]
# ### 6.2 Momentum written as a moving average
#
# The survey writes momentum as $v \leftarrow \beta v + (1-\beta)\, g$, $\theta \leftarrow \theta - \eta v$. That is a legitimate
# variant — torch's `SGD(momentum=beta, dampening=beta)` — but not what "momentum 0.9" means in torch
# or in most papers ($b \leftarrow \beta b + g$). Under a constant gradient the moving average settles at
# $v = g$, a step of $\eta g$, while torch's momentum settles at $b = g/(1-\beta)$: a step **10× larger**
# at $\beta = 0.9$. Copying a learning rate between the two conventions is off by $1/(1-\beta)$. The
# correction: use torch's form, or scale $\eta$ by $1/(1-\beta)$, which makes the two identical
# (the moving average is then exactly $(1-\beta)\, b$ at every step).

# %%
steady = survey.momentum_steady_state_ratio(beta=0.9)
medbench.record("ema_momentum_steady_state_ratio", steady["ratio"])
momentum_checks = {
    "survey EMA (v starts at g) vs torch dampening=0.9": survey.max_abs_diff(
        lambda p: survey.EMAMomentum(p, lr=0.1, beta=0.9, init="grad"),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.9), logistic_loss, w0, check_steps),
    "survey EMA with lr / (1 - beta) vs torch momentum=0.9": survey.max_abs_diff(
        lambda p: survey.EMAMomentum(p, lr=0.1 / (1 - 0.9), beta=0.9),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), logistic_loss, w0, check_steps),
    "survey EMA, same lr, vs torch momentum=0.9": survey.max_abs_diff(
        lambda p: survey.EMAMomentum(p, lr=0.1, beta=0.9),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), logistic_loss, w0, check_steps),
}
medbench.record("ema_momentum_max_abs_diff_vs_torch_dampening",
                momentum_checks["survey EMA (v starts at g) vs torch dampening=0.9"])
display(pd.Series({k: v for k, v in steady.items() if k != "ratio"}, name="steady-state step / eta").to_frame())
pd.Series(momentum_checks, name=f"max |parameter difference| over {check_steps} steps").to_frame()

# %% [markdown]
# The steady-state steps are $10\,\eta$ (torch momentum) against $1\,\eta$ (moving average and
# `dampening`). With the same start ($v_1 = g_1$, as torch does) the moving average *is* torch's
# `dampening` to rounding; with $\eta/(1-\beta)$ it *is* torch's momentum; at the same $\eta$ the two
# runs end up far apart (third row), because one takes steps ten times the other's.
#
# ### 6.3 A 2×2 matrix times a 3-vector
#
# The survey multiplies a $2\times2$ matrix by a 3-vector. The product $A x$ needs $A$ to have as many
# columns as $x$ has entries; there is no such product. Checking shapes before multiplying turns a
# silent nonsense (or a cryptic library error) into a message that says what is wrong:

# %%
A = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
try:
    survey.matvec(A, torch.tensor([1.0, 2.0, 3.0]))
except medbench.MedbenchError as err:
    print(f"{type(err).__name__}: {err}")
print("corrected, A (2, 2) times x (2,):", survey.matvec(A, torch.tensor([1.0, 2.0])).tolist())

# %% [markdown]
# ### 6.4 Cross-entropy on a non-probability
#
# $-\log \hat p_y$ needs $\hat p$ to be a probability. Applied to raw network outputs it returns `nan` for
# negative scores and negative "losses" for scores above 1. The torch version of the same mistake:
# `nn.CrossEntropyLoss` takes **logits** and applies log-softmax itself, so feeding it `softmax(z)`
# applies softmax twice. Its inputs then lie in $[0, 1]$, so the loss can never fall below
# $\log(1 + (C-1)/e)$ (0.313 for two classes, even for a perfect prediction) and its gradients shrink.

# %%
rows = []
for scale in [-1.0, 0.0, 1.0, 3.0, 10.0]:
    z = torch.tensor([[scale, -scale]], requires_grad=True)  # class 0 is right, confidence grows with scale
    yy = torch.tensor([0])
    correct = torch.nn.functional.cross_entropy(z, yy)
    (g_ok,) = torch.autograd.grad(correct, z)
    wrong = survey.double_softmax_cross_entropy(z, yy)
    (g_bad,) = torch.autograd.grad(wrong, z)
    with np.errstate(all="ignore"):
        raw = float(-torch.log(z.detach()[0, 0]))
    rows.append({"logits": f"[{scale:g}, {-scale + 0.0:g}]", "-log(raw score)": raw,
                 "CrossEntropyLoss(logits)": correct.item(), "CrossEntropyLoss(softmax(logits))": wrong.item(), "|grad| correct": float(g_ok.norm()),
                 "|grad| double softmax": float(g_bad.norm())})
double_softmax = pd.DataFrame(rows).set_index("logits")
medbench.record("double_softmax_loss_at_confident_logits", float(double_softmax["CrossEntropyLoss(softmax(logits))"].iloc[-1]))
print(f"floor log(1 + (C-1)/e) for C = 2: {survey.double_softmax_floor(2):.4f}")
double_softmax

# %% [markdown]
# With logits $[10, -10]$ the prediction is right with probability $1 - 2\times10^{-9}$: the correct loss is
# $\approx 0$, the double-softmax loss is stuck at its floor 0.313. Its gradient is half the correct
# one at the undecided logits $[0, 0]$ and a sixth of it on the wrong prediction $[-1, 1]$, exactly where
# learning should be fastest; and the loss value can never say "perfect". The raw-score column shows the other form of the mistake: $-\log$ of a raw score is
# `nan` for a negative score, `inf` at 0 and negative (a "loss" below zero) above 1.
#
# ### 6.5 The multi-class log loss written in its binary form
#
# For $C$ classes the log loss is $-\frac{1}{N}\sum_n \log \hat p_{n, y_n}$ (= $-\frac1N \sum_n\sum_c Y_{nc}\log \hat p_{nc}$ with one-hot $Y$).
# The survey writes the binary form, $-\frac1N\sum_n [\,y_n \log \hat p_n + (1-y_n)\log(1-\hat p_n)\,]$, which, applied to
# each class of a one-hot $Y$, becomes $-\frac1N\sum_n\sum_c [\,Y_{nc}\log \hat p_{nc} + (1-Y_{nc})\log(1-\hat p_{nc})\,]$:
# a sum of $C$ one-vs-rest losses, a different objective. Two predictions with the same
# probability for the true class get the same multi-class loss but different binary-form losses:

# %%
P = torch.tensor([[0.6, 0.2, 0.2], [0.6, 0.3999, 0.0001], [1 / 3, 1 / 3, 1 / 3]])
Y = torch.tensor([0, 0, 0])
log_loss_table = pd.DataFrame({
    "p(true class)": P[:, 0].numpy(),
    "multi-class log loss": [float(survey.log_loss_multiclass(P[i:i + 1], Y[i:i + 1])) for i in range(3)],
    "binary form": [float(survey.log_loss_binary_form(P[i:i + 1], Y[i:i + 1])) for i in range(3)],
    "sklearn log_loss": [log_loss(Y[i:i + 1].numpy(), P[i:i + 1].numpy(), labels=[0, 1, 2]) for i in range(3)],
}, index=["[0.6, 0.2, 0.2]", "[0.6, 0.3999, 0.0001]", "uniform"])
medbench.record("multiclass_log_loss_max_abs_diff_vs_sklearn",
                float((log_loss_table["multi-class log loss"] - log_loss_table["sklearn log_loss"]).abs().max()))
log_loss_table

# %% [markdown]
# The multi-class loss of the first two rows is the same, $-\log 0.6 = 0.511$, and matches scikit-learn's
# `log_loss` (and `CrossEntropyLoss`) to rounding; the binary form scores them 0.957 and 1.022
# because it also penalises how the *wrong* classes share the rest. For the uniform prediction it
# gives $\log 3 + 2 \log 1.5 = 1.910$ instead of $\log 3 = 1.099$. It equals the multi-class loss only
# when every wrong class gets probability 0.
#
# > **Common mistakes**
# > - Computing BCE or cross-entropy from probabilities with the literal formula: `inf` at logits
# >   of 17 (float32). Pass logits to `BCEWithLogitsLoss` / `CrossEntropyLoss`.
# > - Applying `softmax` (or `sigmoid`) before `CrossEntropyLoss` (`BCEWithLogitsLoss`): the loss does it.
# > - Copying Adam from a text without bias correction, or with it in the wrong place: the first
# >   steps are $3$–$3{,}000$ times the learning rate you set.
# > - Mixing momentum conventions: an EMA-style momentum needs a learning rate $1/(1-\beta)$ times
# >   larger to match torch's `momentum=0.9`.
# > - Calling full-batch gradient descent "SGD" and expecting the noise (and the cheap steps) of
# >   minibatches, or the reverse.
# > - Not checking shapes: a matrix of $n$ columns multiplies only vectors of $n$ entries.
#
# ## Summary
#
# - Our gradient descent with momentum and Adam match `torch.optim` to floating-point precision
#   over every step (the recorded `*_max_abs_diff_vs_torch`), so the formulas above are exactly
#   what torch runs — bias correction included.
# - Without bias correction Adam's early steps are too large (`adam_uncorrected_first_step_ratio`
#   = 3.16 at $t = 1$, `adam_uncorrected_peak_step_ratio` = 6.57 at $t = 12$). They blow up a
#   training run that the corrected Adam handles (`adam_uncorrected_loss_spike` vs
#   `adam_corrected_loss_spike` = 1) and end in a model whose validation loss is several times the
#   corrected one's (`adam_uncorrected_val_loss_ratio`), though its training loss looks as good.
# - Full-batch gradient descent is deterministic; minibatch SGD's gradient noise follows
#   $\sigma^2 (N-B) / (B (N-1))$ (`minibatch_noise_measured_over_predicted_b32` ≈ 1).
# - Hand-derived gradients match autograd to float32 rounding (`manual_grad_max_abs_diff`).
# - Stable loss forms are not an optimisation detail: the naive BCE returns `inf` from
#   $z \approx 16.6$ (float32) / $36.7$ (float64) (`naive_bce_inf_logit_*`).
# - The survey's errors, each corrected: its Adam's first step is 3,162 $\eta$
#   (`survey_adam_first_step_ratio`); its EMA momentum takes 10× smaller steady-state steps than
#   torch's momentum (`ema_momentum_steady_state_ratio`) and is torch's `dampening` exactly
#   (`ema_momentum_max_abs_diff_vs_torch_dampening`); double softmax floors the loss at 0.313
#   (`double_softmax_loss_at_confident_logits`); the binary form of the log loss is a different loss.
#
# Accuracy here is on one small held-out split, beside the majority-class baseline; chapter 02
# adds confidence intervals and cross-validation, which a clinical claim needs.
#
# ## References
#
# - Adam, its bias correction and the recommendation $\beta_2 = 0.9999$ for sparse gradients: D. P. Kingma,
#   J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015 (arXiv:1412.6980), Algorithm 1 and section 3.
# - Momentum in the form $v \leftarrow \mu v - \eta g$: I. Sutskever, J. Martens, G. Dahl, G. Hinton, "On the importance of
#   initialization and momentum in deep learning", ICML 2013.
# - torch's update rules — `SGD` with `momentum` and `dampening` (buffer $b_1 = g_1$, then
#   $b \leftarrow \mu b + (1-\text{dampening})\, g$), `Adam`, `BCEWithLogitsLoss`, `CrossEntropyLoss` (takes unnormalised logits):
#   the PyTorch documentation, pytorch.org/docs/stable/optim.html and .../nn.html (torch 2.13, the version installed here).
# - Floating point: IEEE 754 binary32/binary64 (24/53-bit significands, hence the thresholds
#   $24 \ln 2$ and $53 \ln 2$); D. Goldberg, "What every computer scientist should know about floating-point
#   arithmetic", ACM Computing Surveys 23(1), 1991.
# - Minibatch gradient variance with the finite-population correction: W. G. Cochran, *Sampling
#   Techniques*, 3rd ed., Wiley 1977, ch. 2 (variance of a sample mean without replacement).
# - Activations: GELU — D. Hendrycks, K. Gimpel, arXiv:1606.08415 (2016); SiLU/swish — P. Ramachandran et al.,
#   arXiv:1710.05941 (2017); ELU — D.-A. Clevert et al., ICLR 2016.
# - Data: Wisconsin Diagnostic Breast Cancer (W. N. Street, W. H. Wolberg, O. L. Mangasarian, 1993), via
#   `sklearn.datasets.load_breast_cancer`; multi-class log loss as in `sklearn.metrics.log_loss`.
# - He initialisation of the two-layer network: K. He et al., "Delving deep into rectifiers", ICCV 2015.
#
# **Exercises** (nbgrader format): `notebooks/exercises/00_foundations_exercises.ipynb`: 1. *RMSprop from its formula* (compute); 2. *Adam from its formula* (compute); 3. *What bias correction does to Adam's first steps* (interpret); 4. *A training loop that does not learn* (investigate).
