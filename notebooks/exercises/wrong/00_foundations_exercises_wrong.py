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
# WRONG ANSWER (for the grader's tests): exercise 2 implements Adam without bias correction (m and v are used as they are, not divided by 1 - beta^t); exercises 1, 3 and 4 are correct.
#
# Only the wrong solution cell is here: the grader swaps it into the instructor version (`medbench exercises check --partial`, `medbench.exercises.merge_answers`).

# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def adam_step(p, g, m, v, t, lr, betas=(0.9, 0.999), eps=1e-8):
    """One Adam step (``t`` = 1 for the first). Returns ``(new_p, new_m, new_v)``."""
    ### BEGIN SOLUTION
    b1, b2 = betas
    m_new = b1 * m + (1 - b1) * g
    v_new = b2 * v + (1 - b2) * g * g
    return p - lr * m_new / (v_new.sqrt() + eps), m_new, v_new  # no bias correction
    ### END SOLUTION
