"""Text drawn in a chart is plain text, whatever it holds.

matplotlib reads a string between two `$` as mathtext (TeX), and a name such as `$\\foo$` then
fails to draw; PLAIN_TEXT turns that off for every text a figure makes. An SVG is XML, which
cannot hold most control characters (nor U+FFFE, U+FFFF): `plain` writes each such character
of a stored name or value as its escape (`\\x01`), so the picture stays well-formed and shows
what is there.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # matplotlib is imported when a chart is drawn, not when the service starts
    from matplotlib.typing import RcKeyType

PLAIN_TEXT: dict[RcKeyType, Any] = {"text.parse_math": False}
# C0 controls (tab and newline too: a label is one line), DEL, C1 controls, lone surrogates,
# and the two non-characters XML 1.0 excludes.
_UNDRAWABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def plain(text: object) -> str:
    """`text` as a string whose every character a chart can draw and an SVG can hold."""
    return _UNDRAWABLE.sub(_escape, str(text))


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")
