# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# **Wrong answer, for the grader's tests:** exercise 1 resamples readings (rows) instead of patients, so its
# interval ignores that a patient's readings are correlated and comes out too narrow.
#
# Only the wrong solution cell is here: the grader swaps it into the instructor version (`medbench exercises check --partial`, `medbench.exercises.merge_answers`).

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def patient_bootstrap_auroc_diff(y, score_a, score_b, patient_ids, n_boot=1000, seed=0, ci=0.95):
    """AUROC(a) - AUROC(b) with a paired bootstrap interval that resamples patients.

    Args:
        y: ``(N,)`` 0/1 labels, one per row (a patient's rows share its label).
        score_a, score_b: ``(N,)`` the two scores.
        patient_ids: ``(N,)`` the patient of each row.
        n_boot: bootstrap resamples; seed: seed of ``np.random.default_rng``; ci: interval mass.

    Returns:
        ``(difference, low, high)`` as floats.
    """
    ### BEGIN SOLUTION
    y, a, b = np.asarray(y), np.asarray(score_a), np.asarray(score_b)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))  # resamples rows, as if every reading were a new patient
        d = auroc(y[idx], a[idx]) - auroc(y[idx], b[idx])
        if np.isfinite(d):
            diffs.append(d)
    low, high = np.quantile(diffs, [(1 - ci) / 2, (1 + ci) / 2])
    return float(auroc(y, a) - auroc(y, b)), float(low), float(high)
    ### END SOLUTION
