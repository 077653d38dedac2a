import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from medbench.errors import ConfigError
from medbench.tasks import operations as O

SMALL = O.AdmissionMDP(capacity=6, max_census=9, max_wait=5, max_admit=2, p_discharge=0.3, emergency_rate=1.0,
                       referral_rate=0.8, overflow_cost=8.0)


def test_value_iteration_on_a_three_state_mdp_with_a_known_answer():
    # state 0 --a0--> stays at 0 (cost 1); --a1--> goes to 1 (cost 2); state 1 -> 2 (cost 0); 2 -> 2 (cost 0)
    P = np.zeros((3, 2, 3))
    P[0, 0, 0] = 1
    P[0, 1, 1] = 1
    P[1, :, 2] = 1
    P[2, :, 2] = 1
    R = np.array([[1.0, 2.0], [0.0, 0.0], [0.0, 0.0]])
    gamma = 0.9
    V, pi, Q, _ = O.value_iteration(P, R, gamma, tol=1e-12)
    # staying costs 1 / (1 - 0.9) = 10 forever; moving costs 2 once
    assert V == pytest.approx([2.0, 0.0, 0.0], abs=1e-8)
    assert pi[0] == 1
    assert Q[0, 0] == pytest.approx(1 + 0.9 * 2.0)
    # with a big move cost, staying is optimal: V = 1/(1-gamma) = 10
    R[0, 1] = 50.0
    V, pi, _, _ = O.value_iteration(P, R, gamma, tol=1e-12)
    assert V[0] == pytest.approx(10.0, abs=1e-8) and pi[0] == 0


def test_transition_model_is_stochastic_and_matches_the_env():
    P, R = O.transition_model(SMALL)
    assert np.allclose(P.sum(-1), 1.0)
    assert (R >= 0).all()
    # Monte Carlo of one (state, action) through the gymnasium env agrees with the exact law
    env = O.BedAdmissionEnv(SMALL)
    env.reset(seed=0)
    C, W = SMALL.shape
    counts = np.zeros(C * W)
    costs = []
    for _ in range(20000):
        env.state = (5, 3)
        obs, reward, *_ = env.step(2)
        counts[obs[0] * W + obs[1]] += 1
        costs.append(-reward)
    s = 5 * W + 3
    assert np.abs(counts / counts.sum() - P[s, 2]).max() < 0.015
    assert np.mean(costs) == pytest.approx(R[s, 2], rel=0.05)


def test_env_passes_gymnasium_check_env():
    env = O.BedAdmissionEnv(SMALL, horizon=30)
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    n = 0
    while True:
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        n += 1
        assert reward <= 0 and not terminated
        if truncated:
            break
    assert n == 30


def test_optimal_policy_beats_every_other_and_learners_get_close():
    torch.set_num_threads(1)
    sol = O.solve(SMALL)
    h = O.heuristic_policies(SMALL, tune_years=5)
    q = O.q_learning(SMALL, steps=1500, n_envs=256)
    ac = O.train_actor_critic(SMALL, updates=20, n_envs=32)
    opt = O.stationary_cost(SMALL, sol["policy"], sol["P"], sol["R"])
    for name in ("admit_all", "threshold", "forecast"):
        assert O.stationary_cost(SMALL, h[name], sol["P"], sol["R"]) >= opt * (1 - 1e-9)
    assert O.stationary_cost(SMALL, q["policy"], sol["P"], sol["R"]) < 1.1 * opt
    table = O.evaluate_policies(SMALL, {"admit_all": h["admit_all"], "qlearning": q["policy"],
                                        "neural": ac["policy"]}, sol["policy"], n_years=8, n_boot=200)
    assert table.loc["optimal", "ratio"] == 1.0
    assert O.stationary_cost(SMALL, np.zeros(SMALL.shape, int), sol["P"], sol["R"]) > 1.2 * opt  # admitting nobody
    assert (table["ratio_low"] <= table["ratio"]).all() and (table["ratio"] <= table["ratio_high"]).all()
    assert ac["policy"].shape == SMALL.shape and len(ac["curve"]) == 20


def test_bad_input_names_it():
    with pytest.raises(ConfigError, match="capacity"):
        O.AdmissionMDP(capacity=-3)
    with pytest.raises(ConfigError, match="max_census"):
        O.AdmissionMDP(capacity=40, max_census=30)
    with pytest.raises(ConfigError, match="gamma"):
        O.AdmissionMDP(gamma=1.0)
    with pytest.raises(ConfigError, match="horizon"):
        O.BedAdmissionEnv(SMALL, horizon=0)
    with pytest.raises(ConfigError, match="seed"):
        O.q_learning(SMALL, steps=1, seed=-1)


def test_actor_critic_gets_within_ten_percent_of_the_optimum_on_the_default_ward():
    torch.set_num_threads(1)
    mdp = O.AdmissionMDP()
    sol = O.solve(mdp)
    ac = O.train_actor_critic(mdp, updates=200, seed=0)
    opt = O.stationary_cost(mdp, sol["policy"], sol["P"], sol["R"])
    admit_all = O.stationary_cost(mdp, O.heuristic_policies(mdp, tune_years=2)["admit_all"], sol["P"], sol["R"])
    ratio = O.stationary_cost(mdp, ac["policy"], sol["P"], sol["R"]) / opt
    assert ratio < 1.10 and ratio < admit_all / opt  # exact long-run costs, no simulation noise
