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
# # 08 · Privacy and security
#
# **Learning objectives.** "Keep patient data private and secure" means several different jobs,
# and each one can be done wrongly while looking right. After this chapter you can
# - de-identify DICOM files to the **Basic Application Level Confidentiality Profile** of DICOM
#   PS3.15 Annex E (with its modified-dates and patient-characteristics options), and **check**
#   the result with a verifier that does not trust the de-identifier;
# - tell a **pseudonym** (a keyed HMAC) from a plain hash, which anyone can reverse for a short
#   record number;
# - encrypt a dataset **at rest** with AES-GCM and a passphrase-derived key, and see tampering
#   detected;
# - grant access by **role** (RBAC) and keep an **audit trail** that shows when it was edited;
# - measure **re-identification risk** in a released table (k-anonymity, l-diversity, prosecutor
#   risk, a linkage attack) and lower it by generalisation;
# - train with **differential privacy** (DP-SGD) and measure what it buys against a
#   **membership-inference attack**, next to what it costs in AUROC.
#
# **Prerequisites:** chapter 01 (DICOM files and tags), chapter 02 (training with `fit`, AUROC
# with bootstrap intervals). No GPU and no internet: the DICOM files are the real test files that
# ship with pydicom and pydicom-data; the tables and the cohort are simulated.
#
# **Expected run time:** about 2 minutes at the `default` profile on a 2-core laptop CPU (the
# `smoke` profile, used by the tests, well under a minute).
#
# > **Common mistakes this chapter warns about**
# > - *Blanking the patient's name and calling the file anonymous.* Names, IDs and dates also
# >   live in other tags, in sequences and in private tags; pixels can carry burned-in text (§1).
# > - *Hashing an MRN and calling it a pseudonym.* A 7-digit number has 10⁷ values: enumerate
# >   them and the hash is a lookup (§2).
# > - *Encrypting without authenticating*, or reusing a nonce: AES-GCM with a fresh nonce per file
# >   detects any change (§3).
# > - *An audit log anyone can edit.* Without a hash chain, a deleted line leaves no trace (§4).
# > - *Removing names and publishing the rest.* Age, sex and postcode together single out most
# >   people; a public register re-identifies them (§5).
# > - *Believing a model does not remember its training patients.* Measure it (§6).

# %% tags=["parameters"]
seed = 0  # random seed for simulators, splits, models and keys
deid_max_files = 0  # de-identify at most this many shipped DICOM files; 0 means all files with pixel data
mrn_digits = 7  # digits of the medical record number recovered from its plain SHA-256
scrypt_n = 32768  # scrypt cost n of the vault key (2**15; the archive stores it)
n_people = 3000  # people in the simulated demographic table
k_target = 5  # k-anonymity to reach by generalisation
l_target = 2  # distinct diagnoses each equivalence class must hold (l-diversity)
max_suppression = 0.02  # share of records that may be withheld to reach k and l
n_train = 200  # training patients of each DP-SGD / non-private model (few: a small clinical study)
n_test = 2000  # test patients for utility (AUROC)
epochs = 200  # epochs of the non-private model (no early stopping: it fits its training patients)
dp_epochs = 20  # epochs of DP-SGD (fewer, larger, noisier steps)
n_models = 8  # models per epsilon (each the attack target in turn, the others its shadow models)
n_boot = 200  # bootstrap resamples for confidence intervals
torch_threads = 1  # small networks run fastest on one thread of a busy 2-core CPU

# %%
import copy
import hashlib
import math
import secrets
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import torch
from IPython.display import display

import medbench
from medbench.data.dicom import read_dicom
from medbench.data.dicom_testfiles import sample_series_folder, shipped_dicom_files
from medbench.metrics import mean_auroc, paired_bootstrap_diff
from medbench.plots.privacy import plot_attack_roc, plot_class_sizes, plot_dp_tradeoff
from medbench.privacy import access, anonymity, deid, deid_files, pseudonym, vault, verify
from medbench.tasks import privacy as dp
from medbench.widgets.dicom_tags import DicomTagViewer

medbench.seed_everything(seed)
torch.set_num_threads(torch_threads)
warnings.filterwarnings("ignore", module="pydicom")
workdir = Path(tempfile.mkdtemp(prefix="medbench08_"))
shown = []  # text of every table this chapter shows: searched for PHI at the end (§7)


def show(obj):
    """Display a table (or text) and keep its text for the PHI search of §7."""
    shown.append(obj.to_string() if isinstance(obj, pd.DataFrame) else str(obj))
    display(obj)


t_start = time.time()

# %% [markdown]
# ## 1. De-identifying DICOM files, and checking that it worked
#
# PS3.15 Annex E lists, for about 600 attributes, what the Basic profile does: **X** remove,
# **Z** empty (or a dummy), **D** replace with a dummy, **U** replace a UID consistently, **K**
# keep, and combinations such as X/Z/D (whichever the IOD allows). Two options keep useful
# information: *Retain Longitudinal Temporal Information with Modified Dates* (every date of a
# patient moved by the same number of days, so intervals survive) and *Retain Patient
# Characteristics* (age, sex, size, weight ...). Private tags go entirely.
#
# `medbench.privacy.deid` applies the action table of `dicom-anonymizer` (DICOM 2024b), with
# keyed UIDs `2.25.<HMAC(key, uid)>` (the same UID maps to the same new UID in every file, so a
# series stays a series), one keyed date shift per patient, the pseudonym of §2 as the patient's
# name and ID, `PatientIdentityRemoved = YES` and the method codes (DCM 113100, 113107, 113108).
#
# The key is a secret of the data steward. Here a demo key derived from the seed, so that a report
# is reproducible; never derive a real key from anything guessable.

# %%
demo_key = hashlib.sha256(f"medbench chapter 08 demo key {seed}".encode()).digest()
opts = deid.DeidOptions(key=demo_key, shift_dates=True, keep_patient_characteristics=True)
files = shipped_dicom_files()
if deid_max_files:
    files = files[:: max(1, len(files) // deid_max_files)][:deid_max_files]
src = workdir / "dicom_in"
for i, f in enumerate(files):  # one folder of copies: the de-identifier reads a folder like a user's export
    (src / f"{i:03d}_{f.name}").parent.mkdir(parents=True, exist_ok=True)
    (src / f"{i:03d}_{f.name}").write_bytes(f.read_bytes())
report = deid_files.deidentify_path(src, workdir / "dicom_out", opts, progress=False)
summary = report.groupby("modality").agg(files=("status", "size"), ok=("status", lambda s: int((s == "ok").sum())),
                                         burned_in_review=("burned_in_review", "sum"),
                                         tags_checked=("tags_checked", "sum"), violations=("violations", "sum"),
                                         phi_leaks=("phi_leaks", "sum"))
show(summary)

# %%
n_files, n_ok = len(report), int((report["status"] == "ok").sum())
tags_checked, leaks = int(report["tags_checked"].sum()), int(report["phi_leaks"].fillna(0).sum())
flagged = int(report["burned_in_review"].fillna(False).astype(bool).sum())
print(f"{n_ok} of {n_files} real DICOM files de-identified and verified; {tags_checked:,} tag actions checked; "
      f"{leaks} PHI values found in the outputs; {flagged} files flagged for burned-in text review")
medbench.record("deid_files", n_ok)
medbench.record("deid_annex_e_tags_checked", tags_checked)
medbench.record("deid_phi_leaks", leaks)
medbench.record("deid_burned_in_flagged", flagged)

# %% [markdown]
# The table counts, per modality, the files, how many passed the verifier, how many were flagged
# for burned-in text, how many tag actions the verifier checked and how many PHI values it found
# in the outputs. The verifier (`medbench.privacy.verify`) is **independent** of the de-identifier's
# code: for every element of the output (at any depth) it checks the action its tag has in the table,
# and it searches every string of the output for every PHI value of the input — names and their
# parts, IDs, dates, addresses, free text, UIDs. A file that fails is *not written* (the report says
# why).
#
# **Burned-in text.** Ultrasound, secondary captures and screenshots often carry the patient's
# name in the pixels. Scrubbing pixels needs OCR or a device template and is out of scope here:
# such files are *flagged for review*, never silently passed.
#
# Does the verifier catch a leak? A de-identifier that "forgot" a vendor's private tag, and one that
# left the study date unshifted:

# %%
ct_path = Path(pydicom.data.get_testdata_file("CT_small.dcm", download=False))
ds = pydicom.dcmread(ct_path)
out = deid.deidentify_dataset(ds, opts).dataset
leaky = copy.deepcopy(out)  # (Dataset.copy() is shallow: it would leak into `out` too)
leaky.private_block(0x0011, "ACME PACS", create=True).add_new(0x01, "LO", str(ds.PatientName))
leaky.StudyDate = ds.StudyDate
checks = {"our output": verify.verify(ds, out, opts), "name left in a private tag + unshifted date": verify.verify(ds, leaky, opts)}
show(pd.DataFrame({k: {"violations": len(v.violations), "PHI values found": len(v.leaks),
                       "first problem": (v.violations + [""])[0].split(":")[0]} for k, v in checks.items()}).T)

# %% [markdown]
# The clean output has no violation and no PHI; the leaky one is caught twice — by the rule
# (private tags must go, dates must move) and by the search (the name and the date are found).
#
# **Inspect a file.** The widget shows one file's tags before and after, coloured by action.
# Original values of PHI tags are masked (`<hidden: N characters>`) unless you tick *reveal*:
# reports never carry them. Try an ultrasound file to see the burned-in flag.

# %%
examples = [f for f in files if f.name in ("CT_small.dcm", "US1_UNCR.dcm", "MR_small.dcm", "emri_small.dcm")] or files[:3]
viewer = DicomTagViewer(examples, opts)
viewer

# %% [markdown]
# The same for a report (static): the first rows of `CT_small.dcm`'s table.

# %%
table = verify.tag_table(ds, out, opts)
show(table[table["action"] != ""].head(14)[["tag", "keyword", "VR", "action", "before", "after"]])

# %% [markdown]
# **A series stays a series.** The CT series `dicomdirtests/98892001/CT5N` (5 slices), de-identified
# file by file: one Study/Series/Frame-of-reference UID for all slices, and `read_dicom` gives the
# same voxels and the same affine as before.

# %%
series = deid_files.deidentify_path(sample_series_folder(), workdir / "series_out", opts)
a, b = read_dicom(sample_series_folder()), read_dicom(workdir / "series_out")
outs = [pydicom.dcmread(p) for p in sorted((workdir / "series_out").glob("*")) if p.suffix != ".csv"]
uids = {k: len({str(d.get(k)) for d in outs}) for k in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SOPInstanceUID")}
reload_ok = bool(np.array_equal(a["image"], b["image"]) and np.allclose(a["affine"], b["affine"]) and uids["SeriesInstanceUID"] == 1)
print(f"distinct UIDs across {len(outs)} slices: {uids}; same image and affine: {reload_ok}")
medbench.record("deid_series_reload_ok", int(reload_ok))

# %% [markdown]
# The same thing from a shell (a report CSV/JSON per file, exit status 1 if any file failed):
#
# ```bash
# export MEDBENCH_DEID_KEY=$(python -c "import secrets; print(secrets.token_hex(32))")   # keep it secret
# medbench deid path/to/export/ path/to/deidentified/ --report deid_report.csv
# ```

# %% [markdown]
# ## 2. Pseudonyms: a keyed hash, not a plain one
#
# Linking a patient's records across extracts needs a stable code. A **keyed** hash,
# $\mathrm{HMAC\text{-}SHA256}(K, \mathrm{MRN})$, is stable and cannot be computed without the key
# $K$. A **plain** SHA-256 is stable too — and anyone can compute it for every possible MRN:

# %%
rng = np.random.default_rng(seed)
mrn = f"{int(rng.integers(0, 10 ** mrn_digits)):0{mrn_digits}d}"
key = secrets.token_bytes(32)
digest = pseudonym.plain_hash(mrn)
found, seconds, tried = pseudonym.recover_from_plain_hash(digest, digits=mrn_digits)
rate = tried / seconds
print(f"keyed pseudonym: {pseudonym.pseudonym(mrn, key)}   plain SHA-256: {digest[:16]}...")
print(f"recovered by enumeration: {found == mrn} after {tried:,} candidates in {seconds:.2f} s "
      f"({rate / 1e6:.1f} M hashes/s in pure Python; all {10 ** mrn_digits:,} in at most {10 ** mrn_digits / rate:.1f} s)")
medbench.record("plain_hash_recovery_seconds", seconds)

# %% [markdown]
# One Python core enumerates all $10^{7}$ seven-digit MRNs in seconds (a GPU does it in
# milliseconds); the "pseudonym" was a lookup table away from the MRN. With HMAC the attacker
# would need the key. (The MRN is a random number drawn by the chapter, not a real one.)

# %% [markdown]
# ## 3. Encryption at rest: AES-GCM with a passphrase
#
# The de-identified folder goes into one archive. The key is
# $K = \mathrm{scrypt}(\text{passphrase}, \text{salt}; n, r{=}8, p{=}1)$ — memory-hard, so every
# guess costs an attacker as much as it costs us — and every file is sealed by AES-256-GCM with a
# fresh 96-bit nonce and an authentication tag: decryption either returns exactly what was
# encrypted or fails.

# %%
passphrase = secrets.token_urlsafe(16)
t0 = time.perf_counter()
info = vault.encrypt_folder(workdir / "series_out", workdir / "series.mbv", passphrase, scrypt_n=scrypt_n)
plain = vault.open_archive(workdir / "series.mbv", passphrase)  # in memory: no plaintext written
print(f"{info['files']} files, {info['bytes']:,} bytes -> {(workdir / 'series.mbv').stat().st_size:,} bytes; "
      f"scrypt n={info['kdf']['n']}; encrypt + decrypt {time.perf_counter() - t0:.2f} s; round trip exact: "
      f"{all(plain[p.name] == p.read_bytes() for p in (workdir / 'series_out').iterdir())}")

# %%
raw = bytearray((workdir / "series.mbv").read_bytes())
raw[len(raw) // 2] ^= 0x01  # one flipped bit
(workdir / "tampered.mbv").write_bytes(bytes(raw))
outcomes = {}
for name, (path, pw) in {"one flipped bit": (workdir / "tampered.mbv", passphrase),
                         "wrong passphrase": (workdir / "series.mbv", passphrase + "x")}.items():
    try:
        vault.open_archive(path, pw)
        outcomes[name] = "decrypted (!)"
    except medbench.errors.VaultError as exc:
        outcomes[name] = str(exc).split(": ", 1)[1][:70]
show(pd.Series(outcomes, name="result").to_frame())
medbench.record("aesgcm_tamper_detected", int(outcomes["one flipped bit"] != "decrypted (!)"))

# %% [markdown]
# Both fail with a `VaultError` that says what happened, never with garbage: GCM authenticates the
# ciphertext, and the archive's header and each entry's position are bound into it as associated
# data, so reordering or dropping files fails too.

# %% [markdown]
# ## 4. Who may see what: roles, and an audit trail that shows edits
#
# Role-based access control (pycasbin): students see aggregates, researchers de-identified data,
# clinicians raw records of their patients, the data steward everything. Every decision is appended
# to a log whose lines carry the SHA-256 of the previous line: $h_i = \mathrm{SHA256}(h_{i-1} \,\|\,
# \text{record}_i)$.

# %%
ac = access.AccessControl(workdir / "audit.jsonl", {"ana": "student", "ben": "researcher", "chloe": "clinician",
                                                     "dev": "data_steward"})
show(ac.matrix())
requests = [("ana", "raw_phi", "read"), ("ana", "aggregates", "read"), ("ben", "deidentified", "read"),
            ("ben", "deidentified", "export"), ("chloe", "raw_phi", "read"), ("dev", "raw_phi", "export")]
show(pd.DataFrame([(u, r, a, ac.check(u, r, a, purpose="chapter 08")) for u, r, a in requests],
                  columns=["user", "resource", "action", "allowed"]))

# %%
head = ac.log.head  # kept elsewhere (e.g. printed in the weekly report)
lines = (workdir / "audit.jsonl").read_text().splitlines()
lines[0] = lines[0].replace('"allowed": false', '"allowed": true')  # someone hides a refused request
(workdir / "audit_edited.jsonl").write_text("\n".join(lines) + "\n")
before_check = access.verify_audit_log(workdir / "audit.jsonl", expected_head=head)
after_check = access.verify_audit_log(workdir / "audit_edited.jsonl", expected_head=head)
print(f"original log: ok={before_check.ok}; edited log: ok={after_check.ok}, line {after_check.bad_line}: {after_check.reason}")
medbench.record("audit_tamper_detected", int(before_check.ok and not after_check.ok))

# %% [markdown]
# The edit is found at the line it was made. Deleting the *last* lines leaves a shorter valid chain;
# keeping the head hash somewhere else (as above) catches that too.

# %% [markdown]
# ## 5. Re-identification risk in a released table: k-anonymity
#
# A table without names still holds **quasi-identifiers**. Grouping records by them gives
# equivalence classes; the table is $k$-anonymous if every class has at least $k$ records, and
# $l$-diverse if every class holds at least $l$ distinct diagnoses. The **prosecutor risk** — the
# chance an attacker who knows their target is in the table picks the right record — is at most
# $1/\min_c |c| = 1/k$.

# %%
people = anonymity.simulate_demographics(n_people, seed=seed)
qis = list(anonymity.QUASI_IDENTIFIERS)
risk_before = anonymity.prosecutor_risk(people, qis)
gen = anonymity.search_generalisation(people, k=k_target, l_div=l_target, max_suppression=max_suppression)
show(pd.DataFrame({"raw": {"k": anonymity.k_anonymity(people, qis), "l": anonymity.l_diversity(people, qis),
                           "max prosecutor risk": risk_before["max"], "records unique": risk_before["unique"],
                           "precision loss": 0.0, "suppressed": 0.0},
                   "generalised": {"k": gen.k, "l": gen.l_div, "max prosecutor risk": gen.risk["max"],
                                   "records unique": gen.risk["unique"], "precision loss": gen.precision_loss,
                                   "suppressed": gen.suppressed}}).round(4))
print("levels chosen:", gen.levels, "(age 1-3 = 5/10/20-year bands, postcode = trailing digits masked, 4/5 = '*')")
medbench.record("k_anonymity_before", anonymity.k_anonymity(people, qis))
medbench.record("k_anonymity_after", gen.k)
medbench.record("prosecutor_risk_before", risk_before["max"])
medbench.record("prosecutor_risk_after", gen.risk["max"])

# %% [markdown]
# With exact age, sex, postcode and ethnicity most people are unique (risk 1). The search tries
# every combination of hierarchy levels, keeps those that reach $k$ and $l$ with at most
# `max_suppression` of records withheld, and picks the least *precision loss* (Sweeney: the mean
# generalisation level over quasi-identifiers, 0 = raw, 1 = all suppressed). The printed levels
# and loss are what the release gave up.

# %%
sizes_after = anonymity.equivalence_classes(gen.table, qis)
plot_class_sizes(anonymity.equivalence_classes(people, qis), sizes_after, k=k_target);

# %% [markdown]
# **A linkage attack.** An attacker holds a public-like register (think electoral roll) with names
# and exact quasi-identifiers for 30% of the population, and joins it to the release:

# %%
register = anonymity.public_register(people, fraction=0.3, seed=seed)
link = pd.DataFrame({"raw release (names removed)": anonymity.linkage_attack(people.drop(columns="name"), register),
                     "generalised release": anonymity.linkage_attack(gen.table.drop(columns="name"), register,
                                                                     levels=gen.levels)}).T
show(link[["register", "unique_matches", "correct", "reidentified_rate", "diagnosis_learned"]].round(3))

# %%
print(f"Removing names alone: {link.iloc[0]['reidentified_rate']:.0%} of the register re-identified and "
      f"{link.iloc[0]['diagnosis_learned']:.0%} learn a diagnosis; after generalisation to k={gen.k}, l={gen.l_div}: "
      f"{link.iloc[1]['reidentified_rate']:.0%} re-identified, {link.iloc[1]['diagnosis_learned']:.0%} diagnoses learned.")

# %% [markdown]
# ## 6. Does the model remember its training patients? DP-SGD against membership inference
#
# A model trained on few patients for long fits them — including the noise in their outcomes —
# and an attacker who can query it can tell members from non-members. **DP-SGD** (Abadi et al.
# 2016) bounds what any one patient can change: each patient's gradient is clipped to norm $C$,
# and Gaussian noise $\mathcal N(0, \sigma^2 C^2)$ is added to the batch sum. An accountant (RDP)
# turns $\sigma$, the sampling rate and the number of steps into $(\varepsilon, \delta)$: for any
# attack, $\mathrm{TPR} \le e^{\varepsilon}\,\mathrm{FPR} + \delta$.
#
# Two attacks, each model in turn the target:
# - **loss threshold** (Yeom et al. 2018): members have lower loss;
# - **LiRA** (Carlini et al. 2022): shadow models trained with and without each patient give the
#   distribution of its confidence $\phi = \log\frac{p_y}{1-p_y}$ IN and OUT; the score is the
#   likelihood ratio of the target's $\phi$.
#
# Attack AUC 0.5 is chance; the **TPR at 1% FPR** says how many members an attacker can name while
# rarely being wrong.

# %%
cfg = dp.DPConfig(n_train=n_train, n_test=n_test, epochs=epochs, dp_epochs=dp_epochs, n_models=n_models,
                  n_boot=n_boot, seed=seed)
study = dp.run_dp_study(cfg, progress=False)
res = study.table.assign(epsilon=study.table["epsilon"].map(lambda e: "∞" if math.isinf(e) else f"{e:g}"))
show(res[["epsilon", "noise_multiplier", "epsilon_spent", "auroc", "auroc_lo", "auroc_hi", "train_loss",
          "mia_loss_auc", "mia_lira_auc", "mia_tpr"]].round(3).set_index("epsilon"))
print(f"best achievable (Bayes) test AUROC {study.bayes_auroc:.3f}; logistic regression on one model's training "
      f"patients {study.baseline_auroc:.3f}")

# %%
for _, r in study.table.iterrows():
    key = "inf" if math.isinf(r["epsilon"]) else f"{r['epsilon']:g}"
    medbench.record(f"dp_auroc_eps_{key}", r["auroc"])
    medbench.record(f"mia_auc_eps_{key}", r["mia_auc"])
    medbench.record(f"mia_tpr_at_1fpr_eps_{key}", r["mia_tpr"])
if {8.0, math.inf} <= set(study.table["epsilon"]):
    gap = study.table.set_index("epsilon")["auroc"]
    medbench.record("dp_auroc_gap_eps_8", gap[math.inf] - gap[8.0])  # utility given up at eps = 8
plot_dp_tradeoff(study.table, study.bayes_auroc, study.baseline_auroc);

# %%
t = study.table.set_index("epsilon")
diff, lo, hi = paired_bootstrap_diff(mean_auroc, study.y_test, study.test_prob["8"], study.test_prob["inf"],
                                     n_boot=n_boot, seed=seed)
print(f"Without DP the models reach training loss {t.loc[math.inf, 'train_loss']:.3f} (memorised) and the stronger "
      f"attack has AUC {t.loc[math.inf, 'mia_auc']:.3f}, naming {t.loc[math.inf, 'mia_tpr']:.1%} of members at 1% FPR. "
      f"At ε = 8 the attack AUC is {t.loc[8.0, 'mia_auc']:.3f} and TPR at 1% FPR {t.loc[8.0, 'mia_tpr']:.1%} "
      f"(chance: 1%). Test AUROC ε=8 minus non-private: {diff:+.3f} (paired 95% CI {lo:+.3f} to {hi:+.3f}); "
      f"at ε = 1 it is {t.loc[1.0, 'auroc']:.3f}." if 8.0 in t.index and 1.0 in t.index else "")

# %% [markdown]
# How to read the table: `auroc` is the models' mean test AUROC with its 95% bootstrap interval over
# test patients; the Bayes line is the best any model could reach on this cohort and logistic
# regression is the simple baseline. The non-private network memorises its few training patients
# (training loss near 0) and the attacks find them; DP-SGD at ε = 8 brings both attacks to about
# chance for a small or no loss of AUROC here — noise and clipping also regularise a model that was
# overfitting. At ε = 1 the noise swamps the signal. The ROC curves on log axes show the low-FPR
# corner where an attacker is confident:

# %%
plot_attack_roc(study.is_member, study.attack_scores, attack="lira");

# %% [markdown]
# ## 7. No PHI in this report
#
# Everything this chapter shows is searched for the identifying values of every input DICOM file
# (names and their parts, IDs, accession numbers, addresses, institutions, dates, UIDs). The test
# suite repeats the search on the executed notebook and its HTML report
# (`tests/privacy/test_report_phi.py`).

# %%
phi = verify.identifying_values_of(files + [ct_path])
texts = shown + [viewer.summary.value, viewer.view.value]
hits = verify.find_phi("\n".join(texts), phi)
print(f"{len(phi)} identifying values searched in {len(texts)} shown tables and widget views: {len(hits)} found")
medbench.record("report_phi_hits", len(hits))
print(f"chapter run time: {time.time() - t_start:.0f} s")

# %% [markdown]
# ## Summary
#
# - De-identification is a table of actions (PS3.15 Annex E), applied at every depth, with keyed
#   UIDs and one date shift per patient; *checking* it needs a verifier that looks at the output
#   itself. Burned-in pixel text needs a human or OCR: flag it.
# - A plain hash of a short identifier is reversible by enumeration; use a keyed HMAC.
# - AES-GCM with a passphrase-derived key and a fresh nonce per file detects any change.
# - RBAC decides; a hash-chained audit log makes edits to its record visible.
# - Quasi-identifiers re-identify; generalise to k-anonymity (and l-diversity) and measure the loss.
# - A model trained on few patients remembers them; DP-SGD bounds it, at a price in utility
#   that depends on ε and on how much data there is.
#
# ## References
#
# - DICOM PS3.15 (2024b), Annex E: Attribute Confidentiality Profiles, Table E.1-1 (actions,
#   options, codes DCM 113100/113107/113108); the table as shipped by `dicom-anonymizer` 2.1.0
#   (Kitware, BSD-3). UIDs under the `2.25` root: ITU-T X.667 / DICOM PS3.5 B.2.
# - HMAC: Krawczyk, H., Bellare, M. & Canetti, R. (1997). RFC 2104; SHA-256: FIPS 180-4.
# - AES-GCM: NIST SP 800-38D (2007); scrypt: Percival, C. & Josefsson, S. (2016). RFC 7914 (the
#   parameters $r = 8$, $p = 1$); `cryptography` (PyCA).
# - RBAC: Sandhu, R. et al. (1996). Role-based access control models. *IEEE Computer* 29, 38–47;
#   pycasbin. Hash chains for logs: Schneier, B. & Kelsey, J. (1999). Secure audit logs to support
#   computer forensics. *ACM TISSEC* 2, 159–176.
# - Sweeney, L. (2002). k-anonymity: a model for protecting privacy; and Achieving k-anonymity
#   privacy protection using generalization and suppression (precision loss). *Int. J. Uncertainty,
#   Fuzziness and Knowledge-Based Systems* 10, 557–570 and 571–588. Machanavajjhala, A. et al.
#   (2007). l-diversity. *ACM TKDD* 1, 3. El Emam, K. & Dankar, F. K. (2008). Protecting privacy using
#   k-anonymity. *JAMIA* 15, 627–637 (prosecutor risk).
# - Abadi, M. et al. (2016). Deep learning with differential privacy. *CCS* (DP-SGD); Mironov, I.
#   (2017). Rényi differential privacy. *CSF* (the RDP accountant); opacus (Yousefpour, A. et al.,
#   2021, arXiv:2109.12298); Ponomareva, N. et al. (2023). How to DP-fy ML. *JAIR* 77 (recipes).
# - Yeom, S. et al. (2018). Privacy risk in machine learning: analyzing the connection to
#   overfitting. *CSF* (loss-threshold attack); Carlini, N. et al. (2022). Membership inference
#   attacks from first principles. *IEEE S&P* (LiRA, TPR at low FPR).
# - The DICOM files: pydicom's test files and pydicom-data (MIT; sources per file in their READMEs);
#   the demographic table and the risk cohort are simulated (`medbench.privacy.anonymity`,
#   `medbench.data.risk_cohort`).
#
# **Exercises** (nbgrader format): `notebooks/exercises/08_privacy_security_exercises.ipynb`:
# 1. *k-anonymity and prosecutor risk by hand* (compute); 2. *A membership-inference attack by hand*
# (compute); 3. *Find the leak* (investigate); 4. *How many guesses?* (interpret).
