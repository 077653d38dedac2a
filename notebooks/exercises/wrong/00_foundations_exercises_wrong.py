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
# WRONG ANSWER (for the grader's tests): exercise 2 implements Adam without bias correction (m and v are used as they are, not divided by 1 - beta^t); exercises 1, 3 and 4 are correct.

# %% [markdown] nbgrader={"grade": false, "grade_id": "title", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # 00 · Neural-network foundations: exercises
#
# You practise what chapter 00 (`notebooks/00_foundations.ipynb`) shows: optimizers written from
# their formulas and checked against `torch.optim`, what Adam's bias correction does, and how to find
# a mistake in a training loop.
#
# | # | Exercise | Kind | Points |
# |---|----------|------|--------|
# | 1 | RMSprop from its formula | compute | 3 |
# | 2 | Adam from its formula | compute | 3 |
# | 3 | What bias correction does to Adam's first steps | interpret | 2 |
# | 4 | A training loop that does not learn | investigate | 3 |
#
# **How to work.** Write your code where it says `YOUR CODE HERE` (delete the
# `raise NotImplementedError()` line) and run the test cell below it: a test that passes prints
# nothing; a failing one says what is wrong. The grader also runs hidden tests (other
# hyper-parameters, other data), so solve the problem, not the visible test.
# Check the whole notebook from a terminal with
# `medbench exercises check 00_foundations_exercises.ipynb`.
#
# Everything runs on a laptop CPU in seconds, offline.

# %% tags=["parameters"]
seed = 0  # random seed for every library
n_params = 6  # parameters of the quadratic test loss (exercises 1 and 2)
steps = 50  # optimizer steps compared against torch.optim
ratio_steps = 100  # steps over which exercise 3 measures Adam's step size
n_samples = 300  # samples of the classification data (exercise 4)
n_features = 5  # features of the classification data
n_classes = 3  # classes of the classification data
train_steps = 200  # full-batch gradient steps of the training loop (exercise 4)
train_lr = 0.5  # learning rate of the training loop (exercise 4)

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np
import torch

import medbench
from medbench.teaching import survey

medbench.seed_everything(seed)
torch.set_default_dtype(torch.float64)  # so that differences measure the algorithm, not rounding
torch.set_num_threads(1)  # these tensors are tiny: one thread is much faster than several on a busy CPU

gen = torch.Generator().manual_seed(seed)
curvature = torch.logspace(-1, 1, n_params)  # an ill-conditioned bowl: curvatures 0.1 ... 10
target = torch.randn(n_params, generator=gen)


def quadratic(p):
    """The test loss of exercises 1-2: 0.5 * sum(curvature * (p - target)^2)."""
    return 0.5 * (curvature * (p - target) ** 2).sum()


# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 · RMSprop from its formula (compute, 3 points)
#
# RMSprop (Hinton, *Neural Networks for Machine Learning*, lecture 6e, 2012) divides each gradient by
# a running root-mean-square of past gradients, so every weight gets its own step size. In the form
# `torch.optim.RMSprop` uses (defaults: no momentum, not centred), with $v_0 = 0$:
#
# $$v_t = \alpha\, v_{t-1} + (1-\alpha)\, g_t^2, \qquad
#   \theta_t = \theta_{t-1} - \eta\, \frac{g_t}{\sqrt{v_t} + \epsilon}.$$
#
# Write `rmsprop_step(p, g, v, lr, alpha, eps)` that returns the new parameters and the new $v$
# (all tensors of one shape; do not modify the inputs in place). The test runs it for `steps` steps
# on the quadratic loss next to `torch.optim.RMSprop` and requires the parameters to agree to
# $10^{-8}$ at every step. *Why it matters:* an optimizer that is "almost" the library's hides
# mistakes that only show on other problems.

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rmsprop_step(p, g, v, lr, alpha=0.99, eps=1e-8):
    """One RMSprop step. Returns ``(new_p, new_v)``."""
    ### BEGIN SOLUTION
    v_new = alpha * v + (1 - alpha) * g * g
    p_new = p - lr * g / (v_new.sqrt() + eps)
    return p_new, v_new
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex1_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def _rmsprop_worst(loss_fn, lr, alpha, eps, n):
    ref = torch.zeros(n_params, requires_grad=True)
    opt = torch.optim.RMSprop([ref], lr=lr, alpha=alpha, eps=eps)
    p, v = torch.zeros(n_params), torch.zeros(n_params)
    worst = 0.0
    for _ in range(n):
        opt.zero_grad()
        loss_fn(ref).backward()
        opt.step()
        q = p.clone().requires_grad_(True)
        loss_fn(q).backward()
        p, v = rmsprop_step(p, q.grad, v, lr, alpha, eps)
        assert p.shape == ref.shape, "rmsprop_step must return parameters of the same shape as p"
        worst = max(worst, float((p - ref.detach()).abs().max()))
    return worst


worst = _rmsprop_worst(quadratic, lr=0.01, alpha=0.99, eps=1e-8, n=steps)
assert worst < 1e-8, f"your parameters drift from torch.optim.RMSprop by up to {worst:.2e}; compare each line with the formula"
### BEGIN HIDDEN TESTS
worst = _rmsprop_worst(lambda p: 1e-4 * quadratic(p), lr=0.003, alpha=0.9, eps=1e-3, n=steps)
assert worst < 1e-8, (f"with small gradients and eps=1e-3 your parameters drift from torch.optim.RMSprop by {worst:.2e}; "
                      "check where eps enters the update")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 · Adam from its formula (compute, 3 points)
#
# Adam (Kingma & Ba, ICLR 2015, Algorithm 1) keeps running means of the gradient and of its square,
# both starting at zero, and corrects them for that start (step $t = 1, 2, \dots$):
#
# $$m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,$$
# $$\hat m_t = \frac{m_t}{1-\beta_1^t}, \qquad \hat v_t = \frac{v_t}{1-\beta_2^t}, \qquad
#   \theta_t = \theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}.$$
#
# Write `adam_step(p, g, m, v, t, lr, betas, eps)` returning `(new_p, new_m, new_v)`; `t` is the
# number of the step being taken (1 for the first). The test compares it with `torch.optim.Adam`
# for `steps` steps to $10^{-8}$.

# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def adam_step(p, g, m, v, t, lr, betas=(0.9, 0.999), eps=1e-8):
    """One Adam step (``t`` = 1 for the first). Returns ``(new_p, new_m, new_v)``."""
    ### BEGIN SOLUTION
    b1, b2 = betas
    m_new = b1 * m + (1 - b1) * g
    v_new = b2 * v + (1 - b2) * g * g
    return p - lr * m_new / (v_new.sqrt() + eps), m_new, v_new  # no bias correction
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex2_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def _adam_worst(loss_fn, lr, betas, eps, n):
    ref = torch.zeros(n_params, requires_grad=True)
    opt = torch.optim.Adam([ref], lr=lr, betas=betas, eps=eps)
    p, m, v = torch.zeros(n_params), torch.zeros(n_params), torch.zeros(n_params)
    worst = 0.0
    for t in range(1, n + 1):
        opt.zero_grad()
        loss_fn(ref).backward()
        opt.step()
        q = p.clone().requires_grad_(True)
        loss_fn(q).backward()
        p, m, v = adam_step(p, q.grad, m, v, t, lr, betas, eps)
        assert p.shape == ref.shape, "adam_step must return parameters of the same shape as p"
        worst = max(worst, float((p - ref.detach()).abs().max()))
    return worst


worst = _adam_worst(quadratic, lr=0.01, betas=(0.9, 0.999), eps=1e-8, n=steps)
assert worst < 1e-8, f"your parameters drift from torch.optim.Adam by up to {worst:.2e}; compare each line with Algorithm 1"
### BEGIN HIDDEN TESTS
worst = _adam_worst(quadratic, lr=0.05, betas=(0.8, 0.99), eps=1e-6, n=steps)
assert worst < 1e-8, (f"with betas=(0.8, 0.99) and eps=1e-6 your parameters drift from torch.optim.Adam by {worst:.2e}; "
                      "are the betas and eps used everywhere they appear?")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 · What bias correction does to Adam's first steps (interpret, 2 points)
#
# Many texts print Adam *without* $\hat m_t$ and $\hat v_t$. A colleague argues that this is the safer
# choice early in training: "$m$ starts at zero, so the uncorrected steps start small." Measure it.
#
# Under a constant gradient, the size of step $t$ divided by $\eta$ is Adam's *effective* step
# (exactly 1 for every $t$ if the correction does its job). Use
# `survey.step_ratios(make, ratio_steps, lr)` with `make = lambda p: survey.make_adam(variant, p, lr=lr)`
# and `variant` `"torch"` (bias-corrected) or `"uncorrected"`, at `lr = 1e-3`, and set:
#
# - `first_ratio_corrected`, `first_ratio_uncorrected`: step 1's size / $\eta$ (floats);
# - `peak_step`: the step number ($t = 1, 2, \dots$) at which the uncorrected step / $\eta$ is largest,
#   and `peak_ratio` that largest value;
# - `colleague_is_right`: `True` if the uncorrected first steps are *smaller* than $\eta$, else `False`.

# %% nbgrader={"grade": false, "grade_id": "ex3_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
lr = 1e-3
corrected = survey.step_ratios(lambda p: survey.make_adam("torch", p, lr=lr), ratio_steps, lr)
uncorrected = survey.step_ratios(lambda p: survey.make_adam("uncorrected", p, lr=lr), ratio_steps, lr)
first_ratio_corrected = float(corrected[0])
first_ratio_uncorrected = float(uncorrected[0])
peak_step = int(np.argmax(uncorrected)) + 1
peak_ratio = float(uncorrected.max())
colleague_is_right = bool(uncorrected[0] < 1)
### END SOLUTION
print(f"step 1 / eta: corrected {first_ratio_corrected:.3f}, uncorrected {first_ratio_uncorrected:.3f}; "
      f"uncorrected peak {peak_ratio:.2f} at t = {peak_step}")

# %% nbgrader={"grade": true, "grade_id": "ex3_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert abs(first_ratio_corrected - 1) < 1e-3, "the corrected first step is not what the bias correction is designed to give"
assert first_ratio_uncorrected > 0, "a step size is positive: measure |step| / eta"
assert isinstance(colleague_is_right, (bool, np.bool_)), "colleague_is_right must be True or False"
### BEGIN HIDDEN TESTS
_expected = survey.adam_step_ratio_formula("uncorrected", np.arange(1, ratio_steps + 1))
assert abs(first_ratio_uncorrected - _expected[0]) < 1e-3, "the uncorrected first step / eta is off; measure it at lr=1e-3"
assert peak_step == int(np.argmax(_expected)) + 1, "peak_step is not where the uncorrected step is largest (steps count from 1)"
assert abs(peak_ratio - _expected.max()) < 1e-3, "peak_ratio is not the largest uncorrected step / eta"
assert colleague_is_right == bool(_expected[0] < 1), "compare the uncorrected first step with eta again"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 4 · A training loop that does not learn (investigate, 3 points)
#
# The loop below trains a linear classifier (softmax regression) on separable data with full-batch
# gradient descent. Its loss stalls far above zero. It contains **two** mistakes that are common in
# real code; neither raises an error. Find them by reading the loop next to the documentation of
# `torch.nn.CrossEntropyLoss` and `torch.optim.SGD` (chapter 00, section 6, shows one of them).
#
# Write `train_fixed(x, y, steps, lr)` with the same signature and the same model, initialisation,
# optimizer and loss, but both mistakes corrected. It returns the trained model and the list of
# losses (one per step, computed before that step's update).

# %% nbgrader={"grade": false, "grade_id": "ex4_setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
def make_data(n, d, c, data_seed):
    """Separable ``c``-class data: ``x`` (n, d) standard normal, ``y`` (n,) the argmax of a random linear map."""
    g = torch.Generator().manual_seed(data_seed)
    x = torch.randn(n, d, generator=g)
    y = (x @ torch.randn(d, c, generator=g)).argmax(dim=1)
    return x, y


def train_buggy(x, y, steps, lr):
    torch.manual_seed(seed)
    model = torch.nn.Linear(x.shape[1], int(y.max()) + 1)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    losses = []
    for _ in range(steps):
        probs = torch.softmax(model(x), dim=1)
        loss = loss_fn(probs, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, losses


x_train, y_train = make_data(n_samples, n_features, n_classes, seed)
_, buggy_losses = train_buggy(x_train, y_train, train_steps, train_lr)
print(f"buggy loop: loss {buggy_losses[0]:.3f} -> {buggy_losses[-1]:.3f} after {train_steps} steps")

# %% nbgrader={"grade": false, "grade_id": "ex4_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_fixed(x, y, steps, lr):
    """``train_buggy`` with both mistakes corrected. Returns ``(model, losses)``."""
    ### BEGIN SOLUTION
    torch.manual_seed(seed)
    model = torch.nn.Linear(x.shape[1], int(y.max()) + 1)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)  # CrossEntropyLoss takes logits: it applies log-softmax itself
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, losses
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex4_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
model, losses = train_fixed(x_train, y_train, train_steps, train_lr)
assert len(losses) == train_steps, "return one loss per step"
floor = survey.double_softmax_floor(n_classes)
assert losses[-1] < floor, (f"the final loss {losses[-1]:.3f} cannot get below {floor:.3f}: "
                            "look at what the loss function expects as its input")
### BEGIN HIDDEN TESTS
def _reference(x, y, n, lr):
    torch.manual_seed(seed)
    ref = torch.nn.Linear(x.shape[1], int(y.max()) + 1)
    opt = torch.optim.SGD(ref.parameters(), lr=lr)
    out = []
    for _ in range(n):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(ref(x), y)
        loss.backward()
        opt.step()
        out.append(loss.item())
    return ref, out


x2, y2 = make_data(150, 4, 4, seed + 1)
for n in (1, 2, 20):
    ref, ref_losses = _reference(x2, y2, n, 0.3)
    got, got_losses = train_fixed(x2, y2, n, 0.3)
    assert abs(got_losses[0] - ref_losses[0]) < 1e-10, "the loss before the first update is not the cross-entropy of this model"
    gap = max(float((a - b).detach().abs().max()) for a, b in zip(got.parameters(), ref.parameters()))
    assert gap < 1e-10, f"after {n} steps the weights differ from correct gradient descent by {gap:.2e}; look at the gradients"
### END HIDDEN TESTS
