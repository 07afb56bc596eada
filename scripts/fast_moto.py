"""moto's DynamoDB hot paths made independent of the table size, same answers.

moto 5.2.5 answers every Query by sorting the whole table (base table or index
alike), copies every table a TransactWriteItems touches (to restore it if the
transaction is cancelled), and serialises each response by walking botocore's
output shapes. With 15,000 manifests that is 0.3-0.8 s per request, so the
local server queued and timed out under 32 clients. The replacements, each
giving the answer moto gives:

- Query reads a per-partition sorted list (`_TableIndex`) for the base table
  and for every GSI/LSI, kept up to date after each write action from the keys
  that action names (and rebuilt from scratch after any action it does not
  know). Same candidates, same order (moto's own sort key), same paging,
  ScannedCount, limits, projections and filters: the loop over candidates is
  moto's, only the candidates come from the partition instead of the table.
- TransactWriteItems snapshots only the items it names and restores only
  those when cancelled. The operations in a transaction write nothing but the
  items they name, so the restored state is the state moto's whole-table
  restore gives; the handler lock keeps the transaction isolated.
- Item-level responses (GetItem, Query, PutItem, ...) are dumped to JSON
  directly (top-level members of the output shape only, blobs base64); moto's
  result dicts already have the wire shape. Errors and every other action
  still go through moto's serialiser.
- Projections convert only the attributes they name; item sizes are computed
  once per read action; Items are no longer all kept for moto's model view.
- A DynamoDB request is parsed, applied and answered under the one lock that
  already serialised the action (local_backend.serialize_dynamodb), so request
  threads do not fight the lock holder for the GIL.

Everything else (conditions, update expressions, validation, errors) is moto's
code. Whatever falls outside what these paths handle (streams, PartiQL, legacy
QueryFilter, multi-attribute keys) falls back to moto's own implementation.
`tests/functional/test_local_backend_fast_paths.py` sends each request both
ways (`bypassed()` answers with moto's originals) and compares the answers.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import copy
import json
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, GlobalSecondaryIndex, Table
from moto.dynamodb.responses import DynamoHandler, DynamoResult

# Actions that never change items: the indexes stay valid across them.
READ_ONLY_ACTIONS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "TransactGetItems",
        "DescribeTable",
        "ListTables",
        "DescribeTimeToLive",
        "ListTagsOfResource",
        "DescribeContinuousBackups",
        "DescribeEndpoints",
        "DescribeLimits",
        "ListBackups",
        "DescribeBackup",
        "ListExports",
        "DescribeExport",
        "DescribeImport",
        "GetResourcePolicy",
        "TagResource",
        "UntagResource",
        "UpdateTimeToLive",
    }
)
# Responses made of item attribute values, counts and keys only: plain JSON.
FAST_SERIALISED_ACTIONS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "TransactGetItems",
    }
)

_generation = 0  # bumped by any action the indexes cannot follow item by item
_bypassed = False  # moto's own code answers (tests compare the two; indexes are kept either way)


@contextlib.contextmanager
def bypassed() -> Iterator[None]:
    """Answer with moto's original Query, TransactWriteItems, projection and serialiser."""
    global _bypassed
    _bypassed = True
    try:
        yield
    finally:
        _bypassed = False


class _Unsupported(Exception):
    """This request is outside what the fast paths handle: use moto's code."""


# --- per-partition sorted indexes ------------------------------------------------


class _Spec:
    """How moto's Query picks and orders one index's (or the base table's) items."""

    def __init__(self, table: Table, index: Any | None) -> None:
        if index is None:
            self.hash_attrs = [table.hash_key_attr]
            self.required = list(table.table_key_attrs)
            hash_attrs, range_attrs = [table.hash_key_attr], [table.range_key_attr]
        else:
            index_hash = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
            index_range = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
            self.hash_attrs = index_hash
            self.required = index_hash + index_range
            hash_attrs = [*index_hash, table.hash_key_attr]
            if index_range:
                range_attrs = [*index_range, table.range_key_attr]
            else:  # as moto: the table's range key (or hash key) stands in
                if isinstance(index, GlobalSecondaryIndex) and table.range_key_attr:
                    stand_in = table.range_key_attr
                else:
                    stand_in = table.hash_key_attr
                range_attrs = [stand_in, table.range_key_attr]
        self.sort_attrs = table._generate_attr_to_sort_by(hash_attrs, range_attrs)

    def entry(self, item: Item) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
        """(partition, sort key) of an item, or None when the index does not hold it."""
        attrs = item.attrs
        if not all(attrs.get(name) for name in self.required):
            return None
        partition = tuple((attrs[name].type, attrs[name].cast_value) for name in self.hash_attrs)
        return partition, tuple(attrs[name].cast_value for name in self.sort_attrs)

    def sort_key(self, key: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(DynamoType(key[name]).cast_value for name in self.sort_attrs)


class _Partition:
    """One partition's items in ascending index order."""

    __slots__ = ("items", "keys")

    def __init__(self) -> None:
        self.keys: list[tuple[Any, ...]] = []
        self.items: list[Item] = []

    def add(self, key: tuple[Any, ...], item: Item) -> None:
        at = bisect.bisect_right(self.keys, key)
        self.keys.insert(at, key)
        self.items.insert(at, item)

    def remove(self, key: tuple[Any, ...], item: Item) -> None:
        at = bisect.bisect_left(self.keys, key)
        while self.items[at] is not item:
            at += 1
        del self.keys[at]
        del self.items[at]


class _SortedIndex:
    """One index (or the base table): its items by partition, each partition sorted."""

    def __init__(self, spec: _Spec, items: Iterator[Item]) -> None:
        self.spec = spec
        self.partitions: dict[tuple[Any, ...], _Partition] = {}
        # item identity -> (item, partition, sort key): how to take a rewritten item out
        self.placed: dict[tuple[Any, ...], tuple[Item, tuple[Any, ...], tuple[Any, ...]]] = {}
        unsorted: dict[tuple[Any, ...], list[tuple[tuple[Any, ...], Item]]] = {}
        for item in items:
            entry = spec.entry(item)
            if entry is not None:
                partition, key = entry
                unsorted.setdefault(partition, []).append((key, item))
                self.placed[_identity(item.hash_key, item.range_key)] = (item, partition, key)
        for partition, entries in unsorted.items():
            entries.sort(key=lambda entry: entry[0])
            bucket = self.partitions[partition] = _Partition()
            bucket.keys = [key for key, _ in entries]
            bucket.items = [item for _, item in entries]

    def refresh(self, identity: tuple[Any, ...], item: Item | None) -> None:
        placed = self.placed.pop(identity, None)
        if placed is not None:
            old, partition, key = placed
            bucket = self.partitions[partition]
            bucket.remove(key, old)
            if not bucket.keys:
                del self.partitions[partition]
        entry = self.spec.entry(item) if item is not None else None
        if entry is not None:
            partition, key = entry
            self.partitions.setdefault(partition, _Partition()).add(key, item)  # type: ignore[arg-type]
            self.placed[identity] = (item, partition, key)  # type: ignore[assignment]


class _TableIndex:
    """A table's sorted indexes, each built at its first Query."""

    def __init__(self, table: Table) -> None:
        self.generation = _generation
        self.specs: dict[str | None, _Spec] = {None: _Spec(table, None)}
        for index in table.all_indexes():
            self.specs[index.name] = _Spec(table, index)
        self.built: dict[str | None, _SortedIndex] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> None:
        return None  # a copied table (backup, restore) builds its own

    def index(self, table: Table, name: str | None) -> _SortedIndex:
        if name not in self.built:
            self.built[name] = _SortedIndex(self.specs[name], _all_items(table))
        return self.built[name]

    def refresh(self, table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> None:
        """Re-read one item from the table after a write to it."""
        identity = _identity(hash_key, range_key)
        item = _stored_item(table, hash_key, range_key)
        for sorted_index in self.built.values():
            sorted_index.refresh(identity, item)


def _identity(hash_key: DynamoType, range_key: DynamoType | None) -> tuple[Any, ...]:
    if range_key is None:
        return (hash_key.type, hash_key.cast_value)
    return (hash_key.type, hash_key.cast_value, range_key.type, range_key.cast_value)


def _all_items(table: Table) -> Iterator[Item]:
    for stored in list(table.items.values()):
        if isinstance(stored, Item):
            yield stored
        else:
            yield from list(stored.values())


def _stored_item(table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
    """The item under a key, without creating entries in moto's defaultdict."""
    stored = table.items.get(hash_key)
    if table.range_key_attr is None:
        return stored if isinstance(stored, Item) else None
    if not stored or range_key is None:
        return None
    return stored.get(range_key)  # type: ignore[no-any-return]


def _index_of(table: Table) -> _TableIndex:
    index = table.__dict__.get("_vidpipe_index")
    if index is None or index.generation != _generation:
        index = _TableIndex(table)
        table.__dict__["_vidpipe_index"] = index
    return index


def _key_values(table: Table, key: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    hash_key = DynamoType(key[table.hash_key_attr])
    range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return hash_key, range_key


def _written_keys(action: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]] | None:
    """(table, key or item) for each item a write action may have changed; None when unknown."""
    if action in ("PutItem",):
        return [(body["TableName"], body["Item"])]
    if action in ("UpdateItem", "DeleteItem"):
        return [(body["TableName"], body["Key"])]
    if action == "BatchWriteItem":
        written = []
        for table_name, requests in body["RequestItems"].items():
            for request in requests:
                if "PutRequest" in request:
                    written.append((table_name, request["PutRequest"]["Item"]))
                else:
                    written.append((table_name, request["DeleteRequest"]["Key"]))
        return written
    if action == "TransactWriteItems":
        written = []
        for entry in body["TransactItems"]:
            for op_type, op in entry.items():
                if op_type != "ConditionCheck":
                    written.append((op["TableName"], op["Item"] if op_type == "Put" else op["Key"]))
        return written
    return None


def follow_writes(handler: DynamoHandler) -> None:
    """After an action: bring the indexes of every item it wrote up to date."""
    global _generation
    try:
        action = handler._get_action()
    except Exception:
        action = ""
    if action in READ_ONLY_ACTIONS:
        return
    body = getattr(handler, "body", None) or {}
    try:
        written = _written_keys(action, body)
        if written is None:
            raise _Unsupported(action)
    except Exception:
        _generation += 1  # cannot follow this action item by item: rebuild every index lazily
        return
    backend = handler.dynamodb_backend
    for table_name, key in written:
        table = backend.tables.get(table_name)
        if table is None:
            continue
        index = table.__dict__.get("_vidpipe_index")
        if index is None or index.generation != _generation:
            continue  # built afresh at its next Query
        try:
            index.refresh(table, *_key_values(table, key))
        except Exception:
            del table.__dict__["_vidpipe_index"]  # e.g. a key moto refused: rebuilt at the next Query


# --- Query -------------------------------------------------------------------------

_original_query = Table.query


def query(
    self: Table,
    hash_key: DynamoType | None,
    range_comparison: str | None,
    range_objs: list[DynamoType],
    limit: int,
    exclusive_start_key: dict[str, Any],
    scan_index_forward: bool,
    projection_expressions: list[list[str]] | None,
    index_name: str | None = None,
    consistent_read: bool = False,
    filter_expression: Any = None,
    hash_key_conditions: list[tuple[str, DynamoType]] | None = None,
    range_key_conditions: list[tuple[str, str, list[DynamoType]]] | None = None,
    **filter_kwargs: Any,
) -> tuple[list[Item], int, dict[str, Any] | None]:
    """moto's Table.query over one partition of a sorted index instead of the whole table."""
    args = (hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward)
    kwargs = {
        "index_name": index_name,
        "consistent_read": consistent_read,
        "filter_expression": filter_expression,
        "hash_key_conditions": hash_key_conditions,
        "range_key_conditions": range_key_conditions,
        **filter_kwargs,
    }
    try:
        if _bypassed:
            raise _Unsupported("bypassed")
        candidates = _candidates(
            self, *args, index_name, consistent_read, hash_key_conditions, range_key_conditions, filter_kwargs
        )
    except _Unsupported:
        return _original_query(self, *args, projection_expressions, **kwargs)  # type: ignore[arg-type]

    # From here on, moto's own loop (moto/dynamodb/models/table.py, Table.query).
    index_range_key: str | None = None
    if index_name:
        index = self.get_index(index_name)
        ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
        index_range_key = ranges[0] if ranges else None
    last_range_key_name = range_key_conditions[-1][0] if range_key_conditions else None
    results: list[Item] = []
    result_size = 0
    scanned_count = 0
    last_evaluated_key = None
    for result in candidates:
        reached_length_limit = len(results) == limit
        reached_size_limit = (result_size + result.size()) > RESULT_SIZE_LIMIT
        if reached_length_limit or reached_size_limit:
            last_evaluated_key = self._get_last_evaluated_key(results[-1], index_name)
            break
        if not range_comparison:
            results.append(result)
            result_size += result.size()
            scanned_count += 1
            continue
        compared = last_range_key_name or (index_range_key if index_name else None)
        if compared and result.attrs.get(compared):
            if result.attrs[compared].compare(range_comparison, range_objs):
                results.append(result)
                result_size += result.size()
                scanned_count += 1
        elif not index_name and result.range_key.compare(range_comparison, range_objs):  # type: ignore[union-attr]
            results.append(result)
            result_size += result.size()
            scanned_count += 1

    if index_name:  # project, then copy: the same items as moto's copy-then-project
        results = [self.get_index(index_name).project(r) for r in results]
    results = copy.deepcopy(results)
    if filter_expression is not None:
        results = [item for item in results if filter_expression.expr(item)]
    if projection_expressions:
        results = [r.project(projection_expressions) for r in results]
    return results, scanned_count, last_evaluated_key


def _candidates(
    table: Table,
    hash_key: DynamoType | None,
    range_comparison: str | None,
    range_objs: list[DynamoType],
    limit: int,
    exclusive_start_key: dict[str, Any] | None,
    scan_index_forward: bool,
    index_name: str | None,
    consistent_read: bool,
    hash_key_conditions: list[tuple[str, DynamoType]] | None,
    range_key_conditions: list[tuple[str, str, list[DynamoType]]] | None,
    filter_kwargs: dict[str, Any],
) -> Iterator[Item]:
    """The items moto's Query would walk, in its order, starting after the start key."""
    if filter_kwargs or (range_key_conditions and len(range_key_conditions) > 1):
        raise _Unsupported("legacy filters or multi-attribute range keys")
    if index_name:
        names = {i.name: i for i in table.all_indexes()}
        if index_name not in names:
            raise _Unsupported("moto raises its own validation error")
        if consistent_read and names[index_name] in table.global_indexes:
            raise _Unsupported("moto raises its own validation error")
        if range_comparison and not any(k["KeyType"] == "RANGE" for k in names[index_name].schema):
            raise _Unsupported("moto raises its own error")
    table_index = _index_of(table)
    spec = table_index.specs.get(index_name)
    if spec is None:
        raise _Unsupported("index added after the table index was built")
    conditions = dict(hash_key_conditions or [])
    if not conditions and hash_key is not None and not index_name:
        conditions = {table.hash_key_attr: hash_key}
    if set(conditions) != set(spec.hash_attrs):
        raise _Unsupported("hash conditions do not name exactly the index's hash keys")
    partition_key = tuple((conditions[n].type, conditions[n].cast_value) for n in spec.hash_attrs)
    partition = table_index.index(table, index_name).partitions.get(partition_key)
    if partition is None:
        return iter(())
    items = partition.items
    if exclusive_start_key is None:
        start, stop = 0, len(items)
    else:
        try:
            after = spec.sort_key(exclusive_start_key)
        except Exception as exc:
            raise _Unsupported("start key without every sort attribute") from exc
        if scan_index_forward:
            start, stop = bisect.bisect_right(partition.keys, after), len(items)
        else:
            start, stop = 0, bisect.bisect_left(partition.keys, after)
    if scan_index_forward:
        return iter(items[start:stop])
    return reversed(items[start:stop])


# --- projections ---------------------------------------------------------------------

_original_project = Item.project


def project(self: Item, projection_expressions: list[list[str]]) -> Item:
    """moto's Item.project, converting only the top-level attributes it names.

    moto converts the whole item to plain JSON once per projected path (four
    times per item for a KEYS_ONLY index); each path reads a single top-level
    attribute, so the same projection of just those attributes is the same item."""
    if _bypassed:
        return _original_project(self, projection_expressions)
    needed = set()
    for path in projection_expressions:
        needed.add(path[0])
        needed.add(path[0].split("[", 1)[0])  # "list[2]" reads top-level "list"
    narrow = object.__new__(Item)  # not Item(): moto would track it (see _Untracked)
    narrow.hash_key = self.hash_key
    narrow.range_key = self.range_key
    narrow.attrs = {name: value for name, value in self.attrs.items() if name in needed}  # type: ignore[assignment]
    return _original_project(narrow, projection_expressions)


class _Untracked(list):  # type: ignore[type-arg]
    """moto appends every Item it ever creates (each copy and projection made
    for a response) to `Item.instances_tracked`, for its /moto-api model view:
    the server's memory, and the garbage collector's work, grow with every
    request. Items are not tracked here."""

    def append(self, instance: Any) -> None:
        pass


# --- item sizes ----------------------------------------------------------------------

# Reads that ask each item's size twice (page and response limits): nothing
# changes an item while one of them runs (the handler lock), so one answer holds.
MEMOISED_SIZE_ACTIONS = frozenset({"Query", "BatchGetItem", "Scan"})
_size_memo: dict[int, tuple[Item, int]] | None = None
_original_size = Item.size


def size(self: Item) -> int:
    """moto's Item.size, computed once per item during a read action."""
    memo = _size_memo
    if memo is None or _bypassed:
        return _original_size(self)
    known = memo.get(id(self))
    if known is None or known[0] is not self:
        known = memo[id(self)] = (self, _original_size(self))
    return known[1]


# --- TransactWriteItems --------------------------------------------------------------

_original_transact_write_items = DynamoDBBackend.transact_write_items


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto's TransactWriteItems, restoring only the items it names when cancelled.

    The body is moto's (moto/dynamodb/models/__init__.py) but for the snapshot:
    moto deep-copies each whole table first and puts the copies back on
    cancellation. An operation in a transaction writes only the item its key
    names, so saving and restoring those items yields the same state."""
    try:
        if _bypassed:
            raise _Unsupported("bypassed")
        snapshots = _snapshot(self, transact_items)
    except _Unsupported:
        return _original_transact_write_items(self, transact_items)  # type: ignore[no-any-return]

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")
            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            check_unicity(table_name, key)
            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(
                    condition_expression, expression_attribute_names, expression_attribute_values
                )
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            if op_type == "Put":
                self.put_item(
                    table_name,
                    op["Item"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            _restore(snapshots)
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore[arg-type]
        except Exception as e:
            errors.append((type(e).__name__, str(e), original_item))  # type: ignore[arg-type]

    if any(code is not None for code, _, _ in errors):
        _restore(snapshots)
        raise TransactionCanceledException(errors)


def _snapshot(
    backend: DynamoDBBackend, transact_items: list[dict[str, Any]]
) -> list[tuple[Table, DynamoType, DynamoType | None, Item | None]]:
    snapshots = []
    if len(transact_items) > 100:
        raise _Unsupported("moto raises its own error")
    for entry in transact_items:
        try:
            op_type, op = next(iter(entry.items()))
            table = backend.tables[op["TableName"]]
            key = op["Item"] if op_type == "Put" else op["Key"]
            hash_key, range_key = _key_values(table, key)
        except Exception as exc:
            raise _Unsupported("moto validates this request itself") from exc
        if table.stream_shard is not None:
            raise _Unsupported("streams record every write; moto's restore rewinds them")
        stored = _stored_item(table, hash_key, range_key)
        snapshots.append((table, hash_key, range_key, copy.deepcopy(stored)))
    return snapshots


def _restore(snapshots: list[tuple[Table, DynamoType, DynamoType | None, Item | None]]) -> None:
    for table, hash_key, range_key, saved in reversed(snapshots):
        if table.range_key_attr is None:
            if saved is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = saved  # type: ignore[assignment]
        elif saved is None:
            stored = table.items.get(hash_key)
            if stored:
                stored.pop(range_key, None)
        else:
            table.items[hash_key][range_key] = saved


# --- responses -----------------------------------------------------------------------

_original_serialized = DynamoHandler.serialized


def serialized(self: DynamoHandler, action_result: ActionResult) -> Any:
    """Item-level results as JSON directly; anything else through moto's serialiser."""
    if (
        not _bypassed
        and type(action_result) in (ActionResult, DynamoResult)
        and not isinstance(action_result.result, Exception)
        and self._get_action() in FAST_SERIALISED_ACTIONS
    ):
        members = _output_members(self)
        result = {k: v for k, v in action_result.result.items() if k in members and v is not None}  # type: ignore[attr-defined]
        try:
            body = json.dumps(result, default=_wire_value, separators=(",", ":"))
        except (_Unsupported, TypeError, ValueError):
            pass  # a value plain JSON cannot carry as moto would: moto's serialiser decides
        else:
            headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
            return 200, headers, body
    return _original_serialized(self, action_result)


_members: dict[str, frozenset[str]] = {}


def _output_members(handler: DynamoHandler) -> frozenset[str]:
    """The top-level members of an action's output shape: moto's serialiser
    writes these and drops the rest (moto's DeleteItem adds a legacy
    ConsumedCapacityUnits, for one)."""
    action = handler._get_action()
    if action not in _members:
        from moto.core.utils import get_service_model

        shape = get_service_model("dynamodb").operation_model(action).output_shape
        _members[action] = frozenset(shape.members) if shape is not None else frozenset()
    return _members[action]


def _wire_value(value: Any) -> Any:
    """Binary values go out base64-encoded, as moto's serialiser writes blobs."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        raise _Unsupported("timestamps")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# --- install ------------------------------------------------------------------------

_installed = False
_install_lock = threading.Lock()


def install(lock: Any) -> None:
    """Patch moto's Query, TransactWriteItems and response serialisation; index
    maintenance runs inside `lock`, the lock every DynamoDB action holds."""
    global _installed
    with _install_lock:
        if _installed:
            return
        original_call_action = DynamoHandler.call_action

        def call_action(self: DynamoHandler) -> Any:
            global _size_memo
            with lock:
                try:
                    if self._get_action() in MEMOISED_SIZE_ACTIONS:
                        _size_memo = {}
                    return original_call_action(self)
                finally:
                    _size_memo = None
                    follow_writes(self)

        original_dispatch = DynamoHandler._dispatch

        def dispatch(self: DynamoHandler, request: Any, *args: Any, **kwargs: Any) -> Any:
            """The whole request (parse, action, response) under the lock, the body read before.

            The action runs under the lock anyway; parsing and serialising outside it
            only made 32 request threads compete for the GIL with the thread holding
            the lock, so throughput fell as clients were added."""
            if request.content_encoding != "gzip":
                request.get_data()  # from the socket, before holding the lock
            with lock:
                return original_dispatch(self, request, *args, **kwargs)

        DynamoHandler.call_action = call_action  # type: ignore[method-assign]
        DynamoHandler._dispatch = dispatch  # type: ignore[method-assign,assignment]
        DynamoHandler.serialized = serialized  # type: ignore[method-assign,assignment]
        Table.query = query  # type: ignore[method-assign]
        Item.project = project  # type: ignore[method-assign]
        Item.size = size  # type: ignore[method-assign]
        Item.instances_tracked = _Untracked()  # type: ignore[attr-defined]
        DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
        _installed = True
