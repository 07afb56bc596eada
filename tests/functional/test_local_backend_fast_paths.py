"""The local backend's fast paths (scripts/fast_moto.py) answer what moto answers.

Every request here goes over HTTP to the session's moto server twice: once
through the fast paths and once with `fast_moto.bypassed()`, where moto's own
Query, TransactWriteItems, projection and serialiser answer. The two raw JSON
answers must be equal, on a table with every kind of index, through paging,
key conditions, filters and projections, and after every kind of write
(including cancelled transactions, whose item-level rollback must leave what
moto's whole-table rollback leaves).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import fast_moto
import pytest
import requests

S = "S"


def _raw(endpoint: str, action: str, body: dict[str, Any]) -> tuple[int, Any]:
    """One DynamoDB call over HTTP, answered as moto writes it (no SDK parsing)."""
    r = requests.post(
        endpoint,
        data=json.dumps(body),
        headers={
            "X-Amz-Target": f"DynamoDB_20120810.{action}",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=x",
        },
        timeout=30,
    )
    return r.status_code, r.json()


def both(endpoint: str, action: str, body: dict[str, Any]) -> tuple[Any, Any]:
    """(fast answer, moto's answer) to the same read."""
    fast = _raw(endpoint, action, body)
    with fast_moto.bypassed():
        original = _raw(endpoint, action, body)
    return fast, original


@pytest.fixture(scope="module")
def endpoint(backend: dict[str, str]) -> str:
    return backend["DYNAMODB_ENDPOINT_URL"]


def _create_table(endpoint: str) -> str:
    name = f"fastpaths-{uuid.uuid4().hex[:8]}"
    client = boto3.client("dynamodb", endpoint_url=endpoint)
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
            {"AttributeName": "gn", "AttributeType": "N"},
            {"AttributeName": "gs", "AttributeType": "S"},
            {"AttributeName": "ln", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_g_num",
                "KeySchema": [
                    {"AttributeName": "g", "KeyType": "HASH"},
                    {"AttributeName": "gn", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
            {
                "IndexName": "by_g_str",
                "KeySchema": [
                    {"AttributeName": "g", "KeyType": "HASH"},
                    {"AttributeName": "gs", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["note"]},
            },
            {
                "IndexName": "by_g_only",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "by_ln",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "ln", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    return name


def _item(rng: random.Random, pk: str, n: int) -> dict[str, Any]:
    """Items with duplicate index sort keys, missing index keys, nested and binary values."""
    item: dict[str, Any] = {
        "pk": {S: pk},
        "sk": {S: f"sk-{n:04d}"},
        "note": {S: f"note {n}"},
        "nested": {"M": {"list": {"L": [{"N": str(n)}, {S: "x"}]}, "flag": {"BOOL": n % 2 == 0}}},
        "blob": {"B": "AAEC/w=="},
        "tags": {"SS": ["a", f"t{n % 3}"]},
    }
    if rng.random() < 0.8:
        item["g"] = {S: rng.choice(["red", "blue"])}
    if rng.random() < 0.8:
        item["gn"] = {"N": str(rng.choice([1, 2, 2, 3, 10, -1, 2.5]))}
    if rng.random() < 0.8:
        item["gs"] = {S: rng.choice(["apple", "apricot", "banana", "cherry", "ap"])}
    if rng.random() < 0.7:
        item["ln"] = {"N": str(rng.randint(0, 5))}
    return item


def _queries(table: str, pk: str) -> Iterator[dict[str, Any]]:
    values = {":pk": {S: pk}, ":g": {S: "red"}}
    for forward in (True, False):
        for limit in (None, 1, 3, 7):
            extra: dict[str, Any] = {"ScanIndexForward": forward}
            if limit:
                extra["Limit"] = limit
            yield {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": values, **extra}
            yield {
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :a AND :b",
                "ExpressionAttributeValues": {**values, ":a": {S: "sk-0003"}, ":b": {S: "sk-0011"}},
                **extra,
            }
            yield {
                "IndexName": "by_g_num",
                "KeyConditionExpression": "g = :g",
                "ExpressionAttributeValues": values,
                **extra,
            }
            yield {
                "IndexName": "by_g_num",
                "KeyConditionExpression": "g = :g AND gn >= :n",
                "ExpressionAttributeValues": {**values, ":n": {"N": "2"}},
                **extra,
            }
            yield {
                "IndexName": "by_g_str",
                "KeyConditionExpression": "g = :g AND begins_with(gs, :p)",
                "ExpressionAttributeValues": {**values, ":p": {S: "ap"}},
                **extra,
            }
            yield {
                "IndexName": "by_g_only",
                "KeyConditionExpression": "g = :g",
                "FilterExpression": "contains(tags, :t)",
                "ExpressionAttributeValues": {**values, ":t": {S: "t1"}},
                **extra,
            }
            yield {
                "IndexName": "by_ln",
                "KeyConditionExpression": "pk = :pk AND ln < :l",
                "ExpressionAttributeValues": {**values, ":l": {"N": "4"}},
                **extra,
            }
            yield {
                "KeyConditionExpression": "pk = :pk",
                "ProjectionExpression": "sk, nested.#l[1], blob",
                "ExpressionAttributeNames": {"#l": "list"},
                "ExpressionAttributeValues": values,
                **extra,
            }
    yield {"KeyConditionExpression": "pk = :pk", "Select": "COUNT", "ExpressionAttributeValues": values}
    yield {"IndexName": "nope", "KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": values}
    yield {
        "IndexName": "by_g_num",
        "ConsistentRead": True,
        "KeyConditionExpression": "g = :g",
        "ExpressionAttributeValues": values,
    }


def _assert_same_answers(endpoint: str, table: str, pks: list[str]) -> int:
    """Every query of `_queries`, paged to the end, answers the same both ways."""
    compared = 0
    for pk in pks:
        for query in _queries(table, pk):
            body: dict[str, Any] = {"TableName": table, **query}
            for _ in range(100):
                fast, original = both(endpoint, "Query", body)
                assert fast == original, body
                compared += 1
                last = fast[1].get("LastEvaluatedKey")
                if fast[0] != 200 or not last:
                    break
                body = {**body, "ExclusiveStartKey": last}
    return compared


def _scan(endpoint: str, table: str) -> list[Any]:
    status, answer = _raw(endpoint, "Scan", {"TableName": table})
    assert status == 200
    return sorted(answer["Items"], key=lambda item: (item["pk"][S], item["sk"][S]))


def test_queries_answer_as_moto_does_on_every_index_through_every_page(endpoint):
    rng = random.Random(7)
    table = _create_table(endpoint)
    pks = ["p1", "p2"]
    for n in range(40):
        assert (
            _raw(endpoint, "PutItem", {"TableName": table, "Item": _item(rng, rng.choice(pks), n)})[0] == 200
        )

    assert _assert_same_answers(endpoint, table, pks) > 150


def test_writes_keep_the_indexes_in_step_with_the_table(endpoint):
    """Queries first (the indexes get built), then every kind of write, then the same queries."""
    rng = random.Random(11)
    table = _create_table(endpoint)
    pks = ["p1", "p2"]
    for n in range(30):
        _raw(endpoint, "PutItem", {"TableName": table, "Item": _item(rng, rng.choice(pks), n)})
    _assert_same_answers(endpoint, table, pks)

    def key(pk: str, n: int) -> dict[str, Any]:
        return {"pk": {S: pk}, "sk": {S: f"sk-{n:04d}"}}

    for _ in range(60):
        pk, target = rng.choice(pks), rng.randrange(40)
        kind = rng.choice(["put", "move", "drop_key", "delete", "batch", "transact", "cancelled"])
        if kind == "put":
            _raw(endpoint, "PutItem", {"TableName": table, "Item": _item(rng, pk, target)})
        elif kind == "move":  # an update that changes index keys
            _raw(
                endpoint,
                "UpdateItem",
                {
                    "TableName": table,
                    "Key": key(pk, target),
                    "UpdateExpression": "SET g = :g, gn = :n, gs = :s",
                    "ExpressionAttributeValues": {
                        ":g": {S: rng.choice(["red", "blue"])},
                        ":n": {"N": str(rng.randint(-2, 12))},
                        ":s": {S: rng.choice(["apple", "zebra", "ap"])},
                    },
                },
            )
        elif kind == "drop_key":  # an update that takes an item out of indexes
            _raw(
                endpoint,
                "UpdateItem",
                {"TableName": table, "Key": key(pk, target), "UpdateExpression": "REMOVE gn, ln"},
            )
        elif kind == "delete":
            _raw(endpoint, "DeleteItem", {"TableName": table, "Key": key(pk, target)})
        elif kind == "batch":
            _raw(
                endpoint,
                "BatchWriteItem",
                {
                    "RequestItems": {
                        table: [
                            {"PutRequest": {"Item": _item(rng, pk, target)}},
                            {"DeleteRequest": {"Key": key(pk, (target + 1) % 40)}},
                        ]
                    }
                },
            )
        else:
            ops = [
                {"Put": {"TableName": table, "Item": _item(rng, pk, target)}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": key(pk, (target + 2) % 40),
                        "UpdateExpression": "SET gn = :n",
                        "ExpressionAttributeValues": {":n": {"N": "99"}},
                    }
                },
                {"Delete": {"TableName": table, "Key": key(pk, (target + 3) % 40)}},
            ]
            if kind == "cancelled":  # the last condition fails after the writes above applied
                ops.append(
                    {
                        "ConditionCheck": {
                            "TableName": table,
                            "Key": key(pk, (target + 4) % 40),
                            "ConditionExpression": "attribute_exists(nope)",
                        }
                    }
                )
            status, answer = _raw(endpoint, "TransactWriteItems", {"TransactItems": ops})
            assert (status == 200) == (kind == "transact"), answer
    assert _assert_same_answers(endpoint, table, pks) > 150


def test_cancelled_transactions_leave_what_moto_leaves(endpoint):
    """The same writes on two tables, one with item-level rollback and one with
    moto's whole-table rollback: same items, same answers, same errors."""
    rng_fast, rng_moto = random.Random(5), random.Random(5)
    fast_table, moto_table = _create_table(endpoint), _create_table(endpoint)

    def run(table: str, rng: random.Random) -> list[Any]:
        answers = []
        for n in range(20):
            _raw(endpoint, "PutItem", {"TableName": table, "Item": _item(rng, "p", n)})
        for _ in range(30):
            a, b = rng.sample(range(25), 2)  # some keys do not exist yet
            ops = [
                {"Put": {"TableName": table, "Item": _item(rng, "p", a)}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"pk": {S: "p"}, "sk": {S: f"sk-{b:04d}"}},
                        "UpdateExpression": "ADD hits :one SET g = :g",
                        "ConditionExpression": "attribute_exists(sk) OR :new = :new",
                        "ExpressionAttributeValues": {
                            ":one": {"N": "1"},
                            ":g": {S: "red"},
                            ":new": {"BOOL": True},
                        },
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"pk": {S: "p"}, "sk": {S: f"sk-{rng.randrange(25):04d}"}},
                        "ConditionExpression": "attribute_exists(gn)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ]
            if rng.random() < 0.2:  # the same item twice: a validation error after the first write
                ops.append(
                    {"Delete": {"TableName": table, "Key": {"pk": {S: "p"}, "sk": {S: f"sk-{a:04d}"}}}}
                )
            status, answer = _raw(endpoint, "TransactWriteItems", {"TransactItems": ops})
            answers.append((status, json.dumps(answer, sort_keys=True).replace(table, "T")))
        return answers

    fast_answers = run(fast_table, rng_fast)
    with fast_moto.bypassed():
        moto_answers = run(moto_table, rng_moto)

    assert fast_answers == moto_answers
    assert any(status != 200 for status, _ in fast_answers)
    assert any(status == 200 for status, _ in fast_answers)
    assert _scan(endpoint, fast_table) == _scan(endpoint, moto_table)


def test_item_responses_are_serialised_as_moto_serialises_them(endpoint):
    rng = random.Random(3)
    table = _create_table(endpoint)
    items = [_item(rng, "p", n) for n in range(5)]
    for item in items:
        _raw(endpoint, "PutItem", {"TableName": table, "Item": item})
    key = {"pk": {S: "p"}, "sk": {S: "sk-0001"}}
    requests_ = [
        ("GetItem", {"TableName": table, "Key": key}),
        ("GetItem", {"TableName": table, "Key": {"pk": {S: "p"}, "sk": {S: "none"}}}),
        ("GetItem", {"TableName": table, "Key": key, "ProjectionExpression": "blob, nested.flag"}),
        ("BatchGetItem", {"RequestItems": {table: {"Keys": [key, {"pk": {S: "p"}, "sk": {S: "sk-0002"}}]}}}),
        ("Scan", {"TableName": table, "Limit": 2}),
        ("TransactGetItems", {"TransactItems": [{"Get": {"TableName": table, "Key": key}}]}),
        (
            "Query",
            {
                "TableName": table,
                "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": {":p": {S: "p"}},
                "ReturnConsumedCapacity": "TOTAL",
            },
        ),
        ("GetItem", {"TableName": "no-such-table", "Key": key}),
    ]
    for action, body in requests_:
        fast, original = both(endpoint, action, body)
        assert fast == original, action
    # writes: each applied once per mode, to its own item, and answered alike
    for mode in ("fast", "moto"):
        key = {"pk": {S: "p"}, "sk": {S: f"w-{mode}"}}
        writes = [
            ("PutItem", {"TableName": table, "Item": {**key, "n": {"N": "1"}}, "ReturnValues": "ALL_OLD"}),
            (
                "UpdateItem",
                {
                    "TableName": table,
                    "Key": key,
                    "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                    "ReturnValues": "ALL_NEW",
                },
            ),
            (
                "UpdateItem",
                {
                    "TableName": table,
                    "Key": key,
                    "UpdateExpression": "ADD n :one",
                    "ConditionExpression": "n > :big",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":big": {"N": "100"}},
                },
            ),
            ("DeleteItem", {"TableName": table, "Key": key, "ReturnValues": "ALL_OLD"}),
        ]
        answers = []
        for action, body in writes:
            if mode == "fast":
                answers.append(_raw(endpoint, action, body))
            else:
                with fast_moto.bypassed():
                    answers.append(_raw(endpoint, action, body))
        if mode == "fast":
            fast_writes = answers
        else:
            moto_writes = answers
    normalise = json.dumps  # the keys differ only by mode
    assert normalise(fast_writes).replace("w-fast", "w-X") == normalise(moto_writes).replace("w-moto", "w-X")
