"""Keys and keyed pseudonyms: how the platform names patients' data without naming patients.

Every identifier that could lead back to a patient (a file name, a patient, study or
accession id) is replaced, before it reaches MLflow, a log line or an output file, by an
HMAC under a secret key (``pseudonym``). The same key gives the same pseudonyms across
runs, so runs stay comparable; without the key nobody can recompute or reverse them.
De-identification (``medai.deid``) reads its key the same way (``read_key_file``).
"""

from medai.privacy.keys import (
    KEY_FILE_VARIABLE,
    MIN_KEY_BYTES,
    PrivacyKeyError,
    platform_key,
    read_key_file,
)
from medai.privacy.pseudonyms import pseudonym

__all__ = [
    "KEY_FILE_VARIABLE",
    "MIN_KEY_BYTES",
    "PrivacyKeyError",
    "platform_key",
    "pseudonym",
    "read_key_file",
]
