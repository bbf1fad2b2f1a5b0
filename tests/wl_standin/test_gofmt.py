"""Go-compatible text formats: %q quoting, JSON encoding, URL escaping, number parsing."""

from __future__ import annotations

import pytest
from wl_standin.flags import parse_go_int
from wl_standin.gofmt import (
    GoDecodeError,
    decode_struct,
    json_dumps,
    path_escape,
    query_escape,
    quote_go,
    quote_rune,
    scan_int,
    string_map_rows,
    trim_space,
)


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("tab\tnew\nline", '"tab\\tnew\\nline"'),
        ("bell\x07", '"bell\\a"'),
        ("esc\x1b", '"esc\\x1b"'),
        ("del\x7f", '"del\\x7f"'),
        ("ünïcødé ✓", '"ünïcødé ✓"'),
        ("nbsp\xa0", '"nbsp\\u00a0"'),
    ],
)
def test_quote_go_matches_strconv_quote(text: str, quoted: str) -> None:
    assert quote_go(text) == quoted


def test_quote_rune_uses_single_quotes() -> None:
    assert quote_rune("x") == "'x'"
    assert quote_rune("'") == "'\\''"


def test_json_dumps_escapes_like_go_encoder() -> None:
    # Go escapes <, >, & and U+2028/9 as \u00XX, uses \u00XX for \b and \f (not \b/\f).
    text = json_dumps({"t": 'a<b>&c"d\\e\nf\tg\rh\x08i\x0cj\u2028k'})
    assert text == ('{"t":"a\\u003cb\\u003e\\u0026c\\"d\\\\e\\nf\\tg\\rh\\u0008i\\u000cj\\u2028k"}')


def test_json_dumps_indent_layout() -> None:
    assert json_dumps([{"id": "w-1", "priority": 2}], indent="  ") == (
        '[\n  {\n    "id": "w-1",\n    "priority": 2\n  }\n]'
    )


def test_query_escape_uses_plus_for_space_and_escapes_reserved() -> None:
    assert query_escape("SELECT id FROM t WHERE id LIKE 'w-1%'") == (
        "SELECT+id+FROM+t+WHERE+id+LIKE+%27w-1%25%27"
    )
    assert query_escape("a~b_c.d-e*") == "a~b_c.d-e%2A"


def test_path_escape_escapes_slash_keeps_sub_delims() -> None:
    assert path_escape("wl/alice/w-1") == "wl%2Falice%2Fw-1"
    assert path_escape("a:b@c=d&e+f$g,h;i") == "a:b@c=d&e+f$g,h;i"
    assert path_escape("a b?c") == "a%20b%3Fc"


def test_trim_space_keeps_go_non_space_controls() -> None:
    assert trim_space("\t x \n") == "x"
    assert trim_space("\x1cx\x1c") == "\x1cx\x1c"  # Python's strip() would remove these


@pytest.mark.parametrize(
    ("text", "value"), [("3", 3), (" 4", 4), ("2x", 2), ("-1", -1), ("", None), ("x", None)]
)
def test_scan_int_reads_leading_integer(text: str, value: int | None) -> None:
    assert scan_int(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("42", 42),
        ("-1", -1),
        ("+7", 7),
        ("0x1f", 31),
        ("017", 15),
        ("0b101", 5),
        ("0o17", 15),
        ("1_000", 1000),
    ],
)
def test_parse_go_int_base_zero(text: str, value: int) -> None:
    assert parse_go_int(text) == value


@pytest.mark.parametrize("text", ["", "abc", "08", "1__0", "_1", "1_", "0x", " 1", "1.5"])
def test_parse_go_int_rejects_with_go_message(text: str) -> None:
    with pytest.raises(ValueError, match=r'^strconv\.ParseInt: parsing ".*": invalid syntax$'):
        parse_go_int(text)


def test_parse_go_int_out_of_range() -> None:
    with pytest.raises(ValueError, match="value out of range"):
        parse_go_int("9223372036854775808")


def test_decode_struct_type_mismatch_message() -> None:
    with pytest.raises(
        GoDecodeError,
        match=r"cannot unmarshal number into Go struct field \.operation_name of type string",
    ):
        decode_struct(b'{"operation_name": 5}', {"operation_name": "string"})
    assert decode_struct(b'{"Operation_Name": "x", "other": 1}', {"operation_name": "string"}) == {
        "operation_name": "x"
    }


def test_string_map_rows_rejects_numbers_like_go() -> None:
    assert string_map_rows([{"id": "w-1", "x": None}]) == [{"id": "w-1", "x": ""}]
    with pytest.raises(GoDecodeError):
        string_map_rows([{"id": "w-1", "priority": 2}])
