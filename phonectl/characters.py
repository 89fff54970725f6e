"""What a control character is, said once for all of phonectl: C0 (U+0000-U+001F), DEL
(U+007F) and C1 (U+0080-U+009F), which is exactly Unicode's general category Cc. Settings and
URLs refuse them, output escapes them (safe_output.py, with the invisible bidi and separator
characters besides).

A core module: it imports nothing of phonectl's, and not `re` until a text is searched."""

from __future__ import annotations

from functools import cache

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re

# As regex character-class ranges: C0 apart, since JSON text escapes it already.
C0_RANGE = "\x00-\x1f"
DEL_AND_C1_RANGE = "\x7f-\x9f"
CONTROL_RANGES = C0_RANGE + DEL_AND_C1_RANGE


def is_control(char: str) -> bool:
    """Whether one character (exactly one: not for strings, see has_control) is a control
    character (Unicode category Cc)."""
    return char <= "\x1f" or "\x7f" <= char <= "\x9f"


def has_control(text: str) -> bool:
    """Whether `text` holds a control character anywhere."""
    return _controls().search(text) is not None


@cache
def _controls() -> re.Pattern[str]:
    import re

    return re.compile(f"[{CONTROL_RANGES}]")
