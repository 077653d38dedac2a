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
# **Wrong answer, for the grader's tests:** exercise 1 reports the prosecutor risk of the *average*
# record (1 / mean class size) instead of the most exposed one (1 / smallest class size), so a table
# with one unique person looks safe.
#
# Only the wrong solution cell is here: the grader swaps it into the instructor version (`medbench exercises check --partial`, `medbench.exercises.merge_answers`).

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def reid_summary(table, qis):
    """k, maximum prosecutor risk and share of unique records of ``table`` on the columns ``qis``."""
    ### BEGIN SOLUTION
    sizes = table.groupby(list(qis))[list(qis)[0]].transform("size")
    return {"k": int(sizes.min()), "max_risk": float(1.0 / sizes.mean()), "unique": float((sizes == 1).mean())}
    ### END SOLUTION
