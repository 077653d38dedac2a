"""Privacy and security for clinical data (chapter 08), at the data level of the package.

- :mod:`medbench.privacy.deid`: DICOM de-identification to PS3.15 Annex E (Basic profile with the
  modified-dates and patient-characteristics options).
- :mod:`medbench.privacy.verify`: an independent verifier of a de-identified output, the PHI search
  of reports, the side-by-side tag table. It imports ``deid``; ``deid`` never imports it.
- :mod:`medbench.privacy.deid_files`: files and folders de-identified fail-closed (``deidentify_path``,
  what ``medbench deid`` runs: each output written only if it passes the verifier).
- :mod:`medbench.privacy.pseudonym`: keyed HMAC-SHA256 pseudonyms; why a plain hash is not one.
- :mod:`medbench.privacy.vault`: AES-GCM encryption at rest with a scrypt-derived key.
- :mod:`medbench.privacy.access`: role-based access control (pycasbin) with a hash-chained audit log.
- :mod:`medbench.privacy.anonymity`: k-anonymity, l-diversity, generalisation, re-identification risk.

Nothing here imports models, training, widgets or plots.
"""
