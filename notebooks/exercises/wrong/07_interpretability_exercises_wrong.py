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
# **Wrong answer, for the grader's tests:** exercise 1's relevance mass counts the *absolute* relevance
# $|R|$ instead of its positive part $R^{+}$, so evidence *against* the class inside (or outside) the
# nodule is counted as if it were evidence for it.
#
# Only the wrong solution cell is here: the grader swaps it into the instructor version (`medbench exercises check --partial`, `medbench.exercises.merge_answers`).

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def pointing_hit(r, m):
    """Whether the maximum of map ``r`` (H, W) lies inside boolean mask ``m`` (H, W)."""
    ### BEGIN SOLUTION
    r, m = np.asarray(r, float), np.asarray(m, bool)
    top = r == r.max()
    return bool(not (top & ~m).any())
    ### END SOLUTION


def relevance_mass_of(r, m):
    """Share of the positive relevance of ``r`` (H, W) inside boolean mask ``m`` (H, W)."""
    ### BEGIN SOLUTION
    mag = np.abs(np.asarray(r, float))  # |R|: negative evidence counted as if it were positive
    total = mag.sum()
    return float(mag[np.asarray(m, bool)].sum() / total) if total > 0 else 0.0
    ### END SOLUTION


hit_rate, mass, chance = None, None, None
### BEGIN SOLUTION
hit_rate = float(np.mean([pointing_hit(r, m) for r, m in zip(maps, masks)]))
mass = float(np.mean([relevance_mass_of(r, m) for r, m in zip(maps, masks)]))
chance = float(np.mean([m.mean() for m in masks]))
### END SOLUTION
print(f"pointing game {hit_rate:.2f}; relevance mass {mass:.3f} against chance {chance:.3f}")
