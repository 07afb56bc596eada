"""Tag formatting and the name sort key: pure functions, no I/O."""

from __future__ import annotations

import pytest

from chalicelib.repositories.manifests import NAME_KEY_MAX_BYTES, name_sort_key
from chalicelib.schemas import TAG_PREFIXES
from chalicelib.services.assets import format_tag


@pytest.mark.parametrize(
    ("number", "tag"),
    [
        (1, "CHAR_01"),
        (9, "CHAR_09"),
        (10, "CHAR_10"),
        (99, "CHAR_99"),
        (100, "CHAR_100"),
        (1234, "CHAR_1234"),
    ],
)
def test_tags_have_at_least_two_digits_and_grow_past_99(number, tag):
    assert format_tag("CHAR", number) == tag


def test_every_asset_type_has_the_documented_prefix():
    assert TAG_PREFIXES == {
        "CHARACTER": "CHAR",
        "OBJECT": "OBJ",
        "ENVIRONMENT": "ENV",
        "PROP": "PROP",
        "STYLE": "STYLE",
        "VEHICLE": "VEH",
        "OTHER": "OTHER",
    }


def test_name_sort_keys_ignore_case_and_break_ties_by_id():
    a = name_sort_key("Apple", "1")
    b = name_sort_key("apple", "2")
    c = name_sort_key("APPLE", "0")
    assert sorted([a, b, c]) == [c, a, b]
    assert name_sort_key("apple", "z") < name_sort_key("Apples", "a")
    assert name_sort_key("Straße", "1") == name_sort_key("STRASSE", "1")


def test_a_name_that_is_a_prefix_of_another_sorts_first_whatever_the_ids():
    assert name_sort_key("ab", "ffff") < name_sort_key("ab c", "0000")
    assert name_sort_key("ab", "ffff") < name_sort_key("ab!", "0000")


def test_name_sort_keys_stay_within_the_index_key_size():
    key = name_sort_key("\u00e9" * 200, "8c1b0c64-0f5e-4b8a-9b7e-0a3f5e6c7d8e")
    assert len(key.encode("utf-8")) <= NAME_KEY_MAX_BYTES + 1 + 36
    key.encode("utf-8").decode("utf-8")  # never cut inside a character
