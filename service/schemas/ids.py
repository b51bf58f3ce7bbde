"""How ids are written: 32-bit integers, in a URL plain decimal digits."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

# Ids are 32-bit integer columns (PostgreSQL's INTEGER): larger ones can't exist, and would
# overflow the driver instead of answering 404.
MAX_ID = 2**31 - 1
# An id in a URL is plain decimal digits. int() also reads `1_0` (as 10), `+1` and `01`, which
# would make one resource answer at many addresses: each is refused, and the schema states the
# pattern (`ID_SCHEMA`, beside the integer's bounds).
ID_PATTERN = r"^[1-9][0-9]{0,9}$"
CURSOR_PATTERN = r"^(0|[1-9][0-9]{0,9})$"  # a row id to read past; 0: from the start


def _plain_decimal(pattern: str) -> BeforeValidator:
    def check(value: Any) -> Any:
        if isinstance(value, str) and re.fullmatch(pattern, value) is None:
            raise PydanticCustomError(
                "plain_decimal",
                "an id is written in decimal digits without a sign, leading zeros or "
                "separators (e.g. 10), at most {max_id}",
                {"max_id": MAX_ID, "pattern": pattern},
            )
        return value

    return BeforeValidator(check)


PLAIN_ID = _plain_decimal(ID_PATTERN)
PLAIN_CURSOR = _plain_decimal(CURSOR_PATTERN)
ID_SCHEMA: dict[str, Any] = {"pattern": ID_PATTERN}
CURSOR_SCHEMA: dict[str, Any] = {"pattern": CURSOR_PATTERN}
