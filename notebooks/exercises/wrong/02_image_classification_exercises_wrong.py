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
# **Wrong answer, exercise 2:** `patient_bootstrap_auroc_diff` resamples patches instead of patients, so its
# interval ignores that a patient's four patches (same nodules, scanner and lung) are correlated and comes out
# too narrow; the grader must score it below full marks.
#
# Only the wrong solution cell is here: the grader swaps it into the instructor version (`medbench exercises check --partial`, `medbench.exercises.merge_answers`).

# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def patient_bootstrap_auroc_diff(y_true, score_a, score_b, patient_ids, n_boot=1000, seed=0, ci=0.95):
    """AUROC(a) - AUROC(b) with a paired bootstrap interval that resamples patients.

    Args:
        y_true: ``(N,)`` 0/1 labels, one per patch.
        score_a, score_b: ``(N,)`` the two scores.
        patient_ids: ``(N,)`` the patient of each patch.
        n_boot: bootstrap resamples; seed: seed of ``np.random.default_rng``; ci: interval mass.

    Returns:
        ``(difference, low, high)`` as floats.
    """
    ### BEGIN SOLUTION
    yy, a, b = np.asarray(y_true), np.asarray(score_a), np.asarray(score_b)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(yy), len(yy))  # resamples patches, as if every patch were a new patient
        d = auroc(yy[idx], a[idx]) - auroc(yy[idx], b[idx])
        if np.isfinite(d):
            diffs.append(d)
    low, high = np.quantile(diffs, [(1 - ci) / 2, (1 + ci) / 2])
    return float(auroc(yy, a) - auroc(yy, b)), float(low), float(high)
    ### END SOLUTION
