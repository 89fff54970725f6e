"""Knowledge kept once: what a control character is (characters.py), and how a value is
chosen among an enum's (choices.choose), checked against Unicode and against every enum."""

from __future__ import annotations

import unicodedata
from enum import Enum

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from phonectl.characters import has_control, is_control
from phonectl.choices import Cloud, FileFormat, OutputFormat, choose
from phonectl.errors import InvalidInput
from phonectl.numbers import NumberFormat
from phonectl.phones import Audience, PhoneType
from phonectl.safe_output import escape_controls
from phonectl.settings import text as setting_text
from phonectl.urls import parse_service_url


def is_cc(char: str) -> bool:
    return unicodedata.category(char) == "Cc"


@given(st.characters())
@example("\x00")
@example("\x1f")
@example(" ")
@example("\x7e")
@example("\x7f")
@example("\x9f")
@example("\xa0")
@example("\u200e")  # a bidi mark: format (Cf), not a control
def test_a_control_character_is_exactly_unicodes_category_cc(char: str) -> None:
    assert is_control(char) == is_cc(char)


@given(st.text())
def test_text_holds_a_control_character_exactly_when_unicode_says_so(text: str) -> None:
    assert has_control(text) == any(is_cc(c) for c in text)


@given(st.text())
def test_every_reader_refuses_and_every_writer_escapes_the_same_characters(text: str) -> None:
    controls = any(is_cc(c) for c in text)
    assert not any(is_cc(c) for c in escape_controls(text))
    # A setting's text is refused for a control character (or lone surrogates), kept else.
    if not any("\ud800" <= c <= "\udfff" for c in text):
        if controls:
            with pytest.raises(InvalidInput, match="control characters"):
                setting_text(text, "PHONECTL_X")
        else:
            assert setting_text(text, "PHONECTL_X") == text


@given(st.characters(categories=["Cc"]))
def test_a_url_with_a_control_character_is_refused_saying_why(char: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_service_url(f"https://graph.example/{char}", "PHONECTL_GRAPH_URL")
    assert refused.value.hint == "a URL must not contain spaces or control characters"


ENUMS: list[type[Enum]] = [Cloud, OutputFormat, FileFormat, NumberFormat, PhoneType, Audience]


@given(
    enum=st.sampled_from(ENUMS),
    data=st.data(),
)
def test_a_value_is_chosen_whatever_its_case_and_the_spaces_around_it(
    enum: type[Enum], data: st.DataObject
) -> None:
    member = data.draw(st.sampled_from(list(enum)))
    value = str(member.value)
    upper = data.draw(st.lists(st.booleans(), min_size=len(value), max_size=len(value)))
    typed = "".join(c.upper() if up else c.lower() for c, up in zip(value, upper, strict=True))
    padding = data.draw(st.sampled_from(["", " ", "\t", "  "]))
    assert choose(enum, padding + typed + padding) is member


@given(st.text())
def test_nothing_else_is_chosen(text: str) -> None:
    for enum in ENUMS:
        chosen = choose(enum, text)
        values = {str(m.value).lower() for m in enum}
        assert (chosen is not None) == (text.strip().lower() in values)
