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
# **Wrong answer, exercise 2:** `crps_by_hand` keeps only the first term, the mean absolute error of the
# samples, and forgets the spread term $-\tfrac12\,\mathbb E|X-X'|$; it then prefers the point forecast
# over the true distribution. The grader must score it below full marks.
#
# Only the wrong solution cell is here: the grader swaps it into the instructor version (`medbench exercises check --partial`, `medbench.exercises.merge_answers`).

# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def crps_by_hand(y, samples):
    """Mean CRPS of per-patient samples ``(N, S)`` at observations ``(N,)``."""
    ### BEGIN SOLUTION
    y, x = np.asarray(y, float), np.asarray(samples, float)
    return float(np.abs(x - y[:, None]).mean())
    ### END SOLUTION


crps_scores, best = None, None
### BEGIN SOLUTION
crps_scores = {name: crps_by_hand(y_test, s) for name, s in forecasts.items()}
best = min(crps_scores, key=crps_scores.get)
### END SOLUTION
print(crps_scores, "->", best)
