"""What text the service takes: Unicode scalar values only, everywhere, and, in a name or a
filter on names, no control characters.

JSON can write a lone surrogate (`"\\ud800"`), which is no character: no database stores it and
no UTF-8 encoder writes it back, so it is refused at the edge with a 422 saying so. A name is
drawn in plots (SVG, which is XML: most control characters cannot be written in it) and
compared by filters, so names and the filters on them refuse control characters too.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

# PostgreSQL cannot store a NUL character in text: every text parameter refuses it, on every
# backend, so that no answer depends on the database behind the service.
NO_NUL = r"^[^\x00]*$"
# Names and the filters on them: no C0 control (NUL, tab, newline...), no DEL, no C1 control.
NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f]*$"
# pydantic-core's own kind for a string it cannot read as Unicode (it refuses a lone surrogate
# wherever it checks a pattern or a choice): the same kind here, so a client sees one rule.
NOT_UNICODE = "string_unicode"
NOT_UNICODE_MESSAGE = (
    "Text must be Unicode characters: a lone surrogate (\\ud800 to \\udfff) is not one"
)
PATTERN_MESSAGES = {
    NO_NUL: "Text must not contain the NUL character (\\u0000)",
    NO_CONTROL: "A name must not contain control characters: NUL to \\u001f (tab and newline "
    "included), \\u007f, and \\u0080 to \\u009f",
}


# Free text in a request body: characters only, never NUL. pydantic-core reads a string as
# Unicode to match a pattern, and refuses a lone surrogate as it does (`string_unicode`), so the
# pattern checks both; the length bounds of a field still apply to the string itself.
Text = Annotated[str, StringConstraints(pattern=NO_NUL)]
