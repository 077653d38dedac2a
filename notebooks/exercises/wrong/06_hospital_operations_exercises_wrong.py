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
# **Wrong answer, for the grader's tests:** exercise 1 scales the error by the in-sample error of
# the *naive* forecast (yesterday's value, lag 1) whatever the season length `m`, instead of the
# seasonal naive forecast (lag `m`): the MASE comes out on the wrong scale.
#
# Only the wrong solution cell is here: the grader swaps it into the instructor version (`medbench exercises check --partial`, `medbench.exercises.merge_answers`).

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mase_by_hand(y_train, y_true, y_pred, m=7):
    """MASE of ``y_pred`` against ``y_true`` (both ``(H,)``), scaled by the in-sample seasonal naive MAE."""
    ### BEGIN SOLUTION
    y_train, y_true, y_pred = (np.asarray(v, float) for v in (y_train, y_true, y_pred))
    scale = np.mean(np.abs(np.diff(y_train)))  # lag 1: the naive, not the seasonal naive, error
    return float(np.mean(np.abs(y_true - y_pred)) / scale)
    ### END SOLUTION


naive_forecast = None
naive_mase = None
### BEGIN SOLUTION
naive_forecast = np.array([y_train[len(y_train) - 7 + (h - 1) % 7] for h in range(1, 15)])
naive_mase = mase_by_hand(y_train, y_future, naive_forecast)
### END SOLUTION
print(f"seasonal naive MASE over the next 14 days: {naive_mase:.3f}")
