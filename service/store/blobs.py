"""Arrays to bytes and back: npz with a sha256, loaded with allow_pickle=False.

Nothing is ever pickled: object arrays are refused on load."""

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


# A fixed timestamp makes the bytes a function of the arrays alone: equal weights, equal sha256.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def arrays_to_npz(arrays: dict[str, NDArray]) -> bytes:
    """An .npz archive (readable by np.load) whose bytes depend only on the arrays."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            with archive.open(entry, "w", force_zip64=True) as file:
                np.lib.format.write_array(file, np.asarray(arrays[name]), allow_pickle=False)
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
