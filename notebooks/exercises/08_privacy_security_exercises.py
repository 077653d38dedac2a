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

# %% [markdown] nbgrader={"grade": false, "grade_id": "title", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # 08 · Privacy and security — exercises
#
# Practise what chapter 08 (`notebooks/08_privacy_security.ipynb`) measures, on a simulated
# demographic table, a small over-fitted model and a real DICOM file from pydicom's test data:
#
# | # | exercise | kind | points |
# |---|----------|------|--------|
# | 1 | k-anonymity and prosecutor risk by hand | compute | 3 |
# | 2 | A membership-inference attack by hand | compute | 3 |
# | 3 | Find the leak | investigate | 3 |
# | 4 | What does ε = 8 promise? | interpret | 2 |
#
# Write your answers in the cells that say `YOUR CODE HERE` (or `raise NotImplementedError()`);
# the cell after each one checks it. Some checks are hidden and run only when your notebook is
# graded. Check the whole notebook from a terminal with
#
# ```
# medbench exercises check notebooks/exercises/08_privacy_security_exercises.ipynb
# ```
#
# It runs top to bottom in well under a minute on a laptop CPU; nothing downloads.

# %% tags=["parameters"]
seed = 0  # seed of the simulators and the model
n_people = 600  # people in the simulated demographic table
n_members = 150  # training patients of the over-fitted model

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import copy
import math
import warnings

import numpy as np
import pandas as pd
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from sklearn.neural_network import MLPClassifier

import medbench
from medbench.data.risk_cohort import simulate_risk_cohort
from medbench.metrics import attack_auc, binary_losses, tpr_at_fpr
from medbench.privacy import anonymity, deid

medbench.seed_everything(seed)
warnings.filterwarnings("ignore")
people = anonymity.simulate_demographics(n_people, seed=seed)
QIS = ["age", "sex", "postcode", "ethnicity"]
people.head()

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 · k-anonymity and prosecutor risk by hand (compute, 3 points)
#
# Records that share every quasi-identifier value form an *equivalence class*. Implement
# `reid_summary(table, qis)` with pandas (not `medbench.privacy.anonymity`, which the checks compare
# you with). It returns a dict with
#
# - `"k"`: the size of the smallest equivalence class (the table is k-anonymous for this k);
# - `"max_risk"`: the prosecutor risk of the most exposed record, $1 / \min_c |c|$;
# - `"unique"`: the share of records that are alone in their class.

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def reid_summary(table, qis):
    """k, maximum prosecutor risk and share of unique records of ``table`` on the columns ``qis``."""
    ### BEGIN SOLUTION
    sizes = table.groupby(list(qis))[list(qis)[0]].transform("size")
    return {"k": int(sizes.min()), "max_risk": float(1.0 / sizes.min()), "unique": float((sizes == 1).mean())}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex1_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
hand = pd.DataFrame({"age": ["30-39"] * 3 + ["50-59"] * 2 + ["60-69"], "sex": ["F"] * 3 + ["M"] * 3})
r = reid_summary(hand, ["age", "sex"])
assert set(r) == {"k", "max_risk", "unique"}, "return a dict with the keys k, max_risk and unique"
assert r["k"] == 1 and abs(r["max_risk"] - 1.0) < 1e-12, "the 60-69 man is alone in his class"
assert abs(r["unique"] - 1 / 6) < 1e-12, "one record of six is unique"
r2 = reid_summary(hand.iloc[:5], ["age", "sex"])
assert r2["k"] == 2 and abs(r2["max_risk"] - 0.5) < 1e-12, "without the last record the smallest class has 2"
### BEGIN HIDDEN TESTS
g = anonymity.generalise(people, {"age": 2, "postcode": 3, "ethnicity": 1, "sex": 0})
mine = reid_summary(g, QIS)
assert mine["k"] == anonymity.k_anonymity(g, QIS), "k differs from the smallest class size on a larger table"
ref = anonymity.prosecutor_risk(g, QIS)
assert abs(mine["max_risk"] - ref["max"]) < 1e-12, "max_risk is not 1 / (smallest class size)"
assert abs(mine["unique"] - ref["unique"]) < 1e-12, "unique is not the share of records alone in their class"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 · A membership-inference attack by hand (compute, 3 points)
#
# A network was trained, for long, on `n_members` patients of a simulated cohort (`members`); as
# many other patients of the same cohort were not in its training set (`outsiders`). The
# per-patient losses are `loss_members` and `loss_outsiders`. The loss-threshold attack (Yeom et
# al. 2018) calls a patient a member when their loss is *below* a threshold.
#
# Implement `loss_attack(loss_members, loss_outsiders, fpr=0.01)` with NumPy. It returns
# `(auc, tpr)`:
#
# - `auc`: the probability that a random member has a lower loss than a random outsider (ties
#   count one half) — the attack's ROC AUC;
# - `tpr`: the largest share of members the attack can flag while flagging at most a share `fpr` of
#   the outsiders (any threshold; a patient is flagged when loss < threshold).

# %% nbgrader={"grade": false, "grade_id": "ex2_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
cohort = simulate_risk_cohort(2 * n_members, seed=seed)
members, outsiders = np.arange(n_members), np.arange(n_members, 2 * n_members)
net = MLPClassifier(hidden_layer_sizes=(128, 128), max_iter=800, alpha=0.0, random_state=seed)
net.fit(cohort.X[members], cohort.y[members])
p = net.predict_proba(cohort.X)[:, 1]
losses = binary_losses(cohort.y, p)
loss_members, loss_outsiders = losses[members], losses[outsiders]
print(f"mean loss: members {loss_members.mean():.3f}, outsiders {loss_outsiders.mean():.3f}")


# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def loss_attack(loss_members, loss_outsiders, fpr=0.01):
    """Loss-threshold membership inference: ``(auc, tpr at the given fpr)``."""
    ### BEGIN SOLUTION
    lm, lo = np.asarray(loss_members, float), np.asarray(loss_outsiders, float)
    lower = (lm[:, None] < lo[None, :]).mean()
    ties = (lm[:, None] == lo[None, :]).mean()
    auc = float(lower + 0.5 * ties)
    best = 0.0
    for t in np.unique(np.r_[lm, lo, np.inf]):
        if (lo < t).mean() <= fpr:
            best = max(best, float((lm < t).mean()))
    return auc, best
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex2_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
auc, tpr = loss_attack(loss_members, loss_outsiders)
print(f"attack AUC {auc:.3f}, TPR at 1% FPR {tpr:.3f}")
assert 0 <= auc <= 1 and 0 <= tpr <= 1, "auc and tpr are shares between 0 and 1"
assert loss_attack([0.1, 0.2], [0.3, 0.4])[0] == 1.0, "every member below every outsider: AUC 1"
assert abs(loss_attack([0.3], [0.3])[0] - 0.5) < 1e-12, "a tie counts one half"
assert auc > 0.6, "this model memorised its training patients: the attack should do clearly better than chance"
### BEGIN HIDDEN TESTS
is_member = np.r_[np.ones(n_members, bool), np.zeros(n_members, bool)]
scores = -np.r_[loss_members, loss_outsiders]
assert abs(auc - attack_auc(is_member, scores)) < 1e-9, "auc differs from the ROC AUC of the attack"
assert abs(tpr - tpr_at_fpr(is_member, scores, 0.01)) < 0.03, "tpr is not the TPR the attack reaches at 1% FPR"
assert loss_attack([0.1, 0.2, 0.9], [0.15, 0.5, 0.6, 0.7], fpr=0.0)[1] == 1 / 3, \
    "at FPR 0 only the members below the lowest outsider loss can be flagged"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 · Find the leak (investigate, 3 points)
#
# A colleague's de-identification script produced `suspect` from the real file `CT_small.dcm`
# (`original`). The patient's name and ID are replaced, dates are shifted, UIDs remapped — and yet
# some identifying values of the original are still in it.
#
# Implement `find_leaks(original, output)`: the set of keywords of the output's elements, **at any
# depth** (sequences included; `Dataset.iterall()` walks them), whose value contains — as text,
# case-insensitive — the patient's name, the patient ID, a date (`DA`) of the original or any UID
# (`UI`) of the original that is not a standard SOP class or transfer syntax (those are not
# identifying: compare against the original's `SOPInstanceUID`, `StudyInstanceUID`,
# `SeriesInstanceUID` and `FrameOfReferenceUID`). Then set `leaking_keywords = find_leaks(original,
# suspect)`.

# %% nbgrader={"grade": false, "grade_id": "ex3_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
original = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
opts = deid.DeidOptions(key=b"exercise-08-demo-key-0123456789")
clean = deid.deidentify_dataset(original, opts).dataset


def colleague_script(ds):
    """What the colleague's script got wrong (do not read this to answer: investigate the output)."""
    out = copy.deepcopy(clean)
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    out.ReferencedImageSequence = Sequence([ref])
    out.ImageComments = f"follow-up of {ds.PatientID}, see prior"
    return out


suspect = colleague_script(original)
print(len(list(suspect.iterall())), "elements in the suspect output")


# %% nbgrader={"grade": false, "grade_id": "ex3_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def find_leaks(original, output):
    """Keywords of ``output``'s elements (any depth) whose value contains an identifying value of ``original``."""
    ### BEGIN SOLUTION
    values = {str(original.PatientName), str(original.PatientID)}
    values |= {str(e.value) for e in original.iterall() if e.VR == "DA" and e.value}
    values |= {str(original.get(k)) for k in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
                                              "FrameOfReferenceUID") if original.get(k)}
    values = {v.lower() for v in values if v.strip()}
    found = set()
    for e in output.iterall():
        if e.VR == "SQ":
            continue
        text = str(e.value).lower()
        if any(v in text for v in values):
            found.add(e.keyword)
    return found
    ### END SOLUTION


leaking_keywords = find_leaks(original, suspect)
print(sorted(leaking_keywords))

# %% nbgrader={"grade": true, "grade_id": "ex3_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
assert isinstance(leaking_keywords, set), "find_leaks should return a set of keywords"
assert find_leaks(original, clean) == set(), "the clean output holds no identifying value: nothing should be found"
assert len(leaking_keywords) == 2, "there are two leaks; one of them hides inside a sequence"
### BEGIN HIDDEN TESTS
assert leaking_keywords == {"ReferencedSOPInstanceUID", "ImageComments"}, "not the two leaking elements"
other = copy.deepcopy(clean)
other.PatientComments = str(original.PatientName).lower()
other.AcquisitionDate = original.StudyDate
assert find_leaks(original, other) == {"PatientComments", "AcquisitionDate"}, \
    "a lower-case name and an unshifted date are leaks too"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_after", "locked": true, "schema_version": 3, "solution": false, "task": false}
# `medbench.privacy.verify.verify` does this search (and checks each tag's Annex E action): run it on
# `suspect` and compare.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 4 · What does ε = 8 promise? (interpret, 2 points)
#
# A training algorithm that is $(\varepsilon, \delta)$-differentially private limits **every**
# membership-inference attack: at any false-positive rate $\alpha$, its true-positive rate is at most
# $\min(1,\; e^{\varepsilon}\alpha + \delta)$ (Kairouz et al. 2015). Chapter 08 measured, at ε = 8 and
# δ = 1e-5, an attack TPR of about 0.02 at 1% FPR.
#
# 1. Compute `bound_eps8` and `bound_eps1`: the largest TPR at $\alpha = 0.01$ that ε = 8 and ε = 1
#    (δ = 1e-5) allow.
# 2. Set `eps8_guarantee_says_little` to `True` if the ε = 8 bound allows an attack far stronger than
#    the measured one (so the low measured leakage comes from this attack's weakness and the
#    training, not from the guarantee), else `False`.

# %% nbgrader={"grade": false, "grade_id": "ex4_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
bound_eps8, bound_eps1 = None, None
eps8_guarantee_says_little = None
### BEGIN SOLUTION
bound_eps8 = min(1.0, math.exp(8) * 0.01 + 1e-5)
bound_eps1 = min(1.0, math.exp(1) * 0.01 + 1e-5)
eps8_guarantee_says_little = bound_eps8 > 10 * 0.02
### END SOLUTION
print(f"TPR bound at 1% FPR: eps 8 -> {bound_eps8:.3f}, eps 1 -> {bound_eps1:.4f}")

# %% nbgrader={"grade": true, "grade_id": "ex4_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert bound_eps8 is not None and bound_eps1 is not None and eps8_guarantee_says_little is not None, \
    "set bound_eps8, bound_eps1 and eps8_guarantee_says_little"
assert 0 < bound_eps1 <= bound_eps8 <= 1, "bounds are rates between 0 and 1, larger for larger epsilon"
### BEGIN HIDDEN TESTS
assert abs(bound_eps1 - (math.e * 0.01 + 1e-5)) < 1e-9, "bound_eps1 is not e^1 * 0.01 + delta"
assert bound_eps8 == 1.0, "e^8 * 0.01 is about 30: the bound is capped at 1"
assert eps8_guarantee_says_little is True, "a bound of 1 allows an attack that finds every member"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "closing", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## What the exercises show
#
# 1. **Compute** — the most exposed record sets the risk: $1/k$ is a maximum, not an average.
# 2. **Compute** — an attack is judged by its ROC, and most by the low-FPR corner where it is sure.
# 3. **Investigate** — identifying values hide in sequences and free text; search the whole output,
#    at every depth, for every value of the input.
# 4. **Interpret** — at ε = 8 the formal guarantee is vacuous at 1% FPR; a low measured leakage is an
#    empirical result about the attacks tried, and ε ≈ 1 is needed for a meaningful bound.
#
# Sources: chapter 08 and its references (Sweeney 2002; El Emam & Dankar 2008; Yeom et al. 2018;
# Carlini et al. 2022), and Kairouz, P., Oh, S. & Viswanath, P. (2015). The composition theorem for
# differential privacy. *ICML* (the hypothesis-testing view of $(\varepsilon, \delta)$).
