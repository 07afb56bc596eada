"""The write-unit arithmetic `make bench` reports (bench/write_cost.py): item
sizes by DynamoDB's rules and which index entries a change rewrites."""

from __future__ import annotations

from bench.write_cost import IndexShape, TableShape, Write, entry_writes, item_size, number_size, price

TABLE = TableShape(
    keys=("owner_id", "manifest_id"),
    indexes=(
        IndexShape("by-count", ("owner_id", "s_count"), "KEYS_ONLY"),
        IndexShape("by-name", ("owner_id", "s_name"), "INCLUDE", frozenset({"asset_count", "name"})),
        IndexShape("by-cat", ("p_cat", "s_count"), "ALL"),
    ),
)


def manifest(**attrs: dict[str, str]) -> dict[str, dict[str, str]]:
    return {"owner_id": {"S": "o"}, "manifest_id": {"S": "m"}, **attrs}


def test_sizes_count_names_values_and_the_overhead_of_lists_and_maps():
    assert item_size({"name": {"S": "héllo"}}) == 4 + 6
    assert number_size("12345") == 4 and number_size("100") == 2 and number_size("0") == 2
    assert item_size({"t": {"L": [{"S": "ab"}, {"S": "c"}]}}) == 1 + 3 + (2 + 1) + (1 + 1)
    assert item_size({"m": {"M": {"k": {"N": "7"}}}}) == 1 + 3 + (1 + 2 + 1)
    assert item_size({"b": {"BOOL": True}, "n": {"NULL": True}}) == 4


def test_a_changed_index_key_is_a_delete_and_a_put_and_a_projected_change_one_write():
    before = manifest(s_count={"N": "1"}, s_name={"S": "kit"}, name={"S": "Kit"}, asset_count={"N": "1"})
    after = manifest(s_count={"N": "2"}, s_name={"S": "kit"}, name={"S": "Kit"}, asset_count={"N": "2"})
    by_count, by_name, by_cat = TABLE.indexes
    assert len(entry_writes(TABLE, by_count, before, after)) == 2
    assert len(entry_writes(TABLE, by_name, before, after)) == 1
    assert entry_writes(TABLE, by_cat, before, after) == []  # never in it: no p_cat


def test_an_unprojected_change_rewrites_nothing_and_entering_or_leaving_is_one_write():
    before = manifest(s_count={"N": "1"}, s_name={"S": "kit"}, ref_count={"N": "0"})
    after = manifest(s_count={"N": "1"}, s_name={"S": "kit"}, ref_count={"N": "1"})
    by_count, by_name, _ = TABLE.indexes
    assert entry_writes(TABLE, by_count, before, after) == []
    assert entry_writes(TABLE, by_name, before, after) == []
    gone = manifest(ref_count={"N": "1"})
    assert len(entry_writes(TABLE, by_count, before, gone)) == 1
    assert len(entry_writes(TABLE, by_count, gone, before)) == 1


def test_units_round_each_item_up_to_the_kilobyte_and_a_transaction_doubles_them():
    big = manifest(s_count={"N": "1"}, blob={"S": "x" * 1500})
    bigger = manifest(s_count={"N": "2"}, blob={"S": "x" * 1500})
    shapes = {"manifests": TABLE}
    plain = price([Write("manifests", "update", False, {}, big, bigger)], shapes)
    assert plain.base == 2  # the larger image, 1.5 KB -> 2
    assert plain.entries == 2 and plain.index == 2  # by-count moved: two small entries
    tx = price([Write("manifests", "update", True, {}, big, bigger)], shapes)
    assert (tx.base, tx.index) == (4, 4)
