"""Arrays to bytes and back: npz with a sha256, loaded with allow_pickle=False (never pickle)."""

from __future__ import annotations

import hashlib
import io
import zipfile

import numpy as np
from numpy.typing import NDArray


class CorruptBlob(ValueError):
    """The bytes are not what was stored, or not a plain-array npz."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def arrays_to_npz(arrays: dict[str, NDArray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npz_to_arrays(data: bytes, expected_sha256: str | None = None) -> dict[str, NDArray]:
    """Load arrays, checking the checksum first; object arrays are refused, never unpickled."""
    if expected_sha256 is not None and sha256_hex(data) != expected_sha256:
        raise CorruptBlob("the stored bytes do not match their sha256")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        # numpy raises ValueError for object arrays when allow_pickle is False.
        raise CorruptBlob(f"not a plain-array npz: {error}") from error
