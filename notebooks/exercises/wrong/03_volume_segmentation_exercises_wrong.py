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
# **Wrong answer, exercise 1:** `dice_hd95_by_hand` measures the surface distances in voxels (no
# `sampling=spacing`), so HD95 is in voxel units, not millimetres; the grader must score it below full marks.
#
# Only the wrong solution cell is here: the grader swaps it into the instructor version (`medbench exercises check --partial`, `medbench.exercises.merge_answers`).

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dice_hd95_by_hand(pred, truth, spacing):
    """Dice and HD95 (mm) of two boolean masks ``(X, Y, Z)`` with voxel size ``spacing`` (mm)."""
    ### BEGIN SOLUTION
    p, t = np.asarray(pred, bool), np.asarray(truth, bool)
    dice = 2.0 * (p & t).sum() / (p.sum() + t.sum())
    surf_p = p & ~ndimage.binary_erosion(p)
    surf_t = t & ~ndimage.binary_erosion(t)
    d_pt = ndimage.distance_transform_edt(~surf_t)[surf_p]
    d_tp = ndimage.distance_transform_edt(~surf_p)[surf_t]
    return float(dice), float(max(np.percentile(d_pt, 95), np.percentile(d_tp, 95)))
    ### END SOLUTION
