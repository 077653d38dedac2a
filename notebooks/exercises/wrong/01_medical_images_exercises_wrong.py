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
# **Wrong answer, exercise 1:** `stored_to_hu` swaps the two tags (HU = stored × RescaleIntercept +
# RescaleSlope), a plausible slip when reading the tags off a header dump; the grader must score it below full marks.
#
# Only the wrong solution cell is here: the grader swaps it into the instructor version (`medbench exercises check --partial`, `medbench.exercises.merge_answers`).

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def stored_to_hu(stored, slope, intercept):
    """Stored DICOM values -> Hounsfield units (float64 array of the same shape)."""
    ### BEGIN SOLUTION
    return np.asarray(stored, dtype=np.float64) * float(intercept) + float(slope)
    ### END SOLUTION


def hu_from_file(path):
    """``(hu, padding)`` of a single-slice CT file, both ``(X, Y)`` (columns, rows)."""
    ### BEGIN SOLUTION
    ds = pydicom.dcmread(path)
    stored = ds.pixel_array
    hu = stored_to_hu(stored, ds.get("RescaleSlope", 1), ds.get("RescaleIntercept", 0))
    pad_value = ds.get("PixelPaddingValue")
    padding = np.zeros(stored.shape, bool) if pad_value is None else stored == int(pad_value)
    return hu.T, padding.T
    ### END SOLUTION


hu, padding = hu_from_file(sample_path("ct"))
print(f"HU image {hu.shape}: {padding.sum()} padding pixels; median HU of the rest {np.median(hu[~padding]):.0f}")
