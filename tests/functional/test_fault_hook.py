"""The local backend's fault hook (scripts/faults.py), seen through boto3 against the
session's moto server: each fault does what the contract says, to the requests it
matches and no others.

Every test works on its own item ids, and rules match on them, so no other request
of the session is hit."""

from __future__ import annotations

import json
import socket
import time
import uuid
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError
from faults import FAULTS_ENV, FaultClient
from local_backend import start_moto

TABLE = "vidpipe-fault-hook-test"


def _client(service: str, endpoint: str, attempts: int) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )


@pytest.fixture(scope="module")
def endpoint(backend: dict[str, str]) -> str:
    endpoint = backend["DYNAMODB_ENDPOINT_URL"]
    ddb = _client("dynamodb", endpoint, 3)
    if TABLE not in ddb.list_tables()["TableNames"]:
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    return endpoint


@pytest.fixture
def ddb(endpoint: str) -> Any:
    """A client that retries like the app's (standard mode)."""
    return _client("dynamodb", endpoint, 3)


@pytest.fixture
def ddb_once(endpoint: str) -> Any:
    """A client that makes exactly one attempt, so the fault itself is visible."""
    return _client("dynamodb", endpoint, 1)


@pytest.fixture
def s3_once(endpoint: str) -> Any:
    return _client("s3", endpoint, 1)


@pytest.fixture
def bucket(backend: dict[str, str]) -> str:
    return backend["BUCKET_NAME"]


def new_id() -> str:
    return f"fault-{uuid.uuid4()}"


def put_new(client: Any, pk: str, **extra: Any) -> Any:
    """A conditional create, as the app's writes are."""
    item = {"pk": {"S": pk}, **{k: {"S": v} for k, v in extra.items()}}
    return client.put_item(TableName=TABLE, Item=item, ConditionExpression="attribute_not_exists(pk)")


def stored(client: Any, pk: str) -> dict[str, Any] | None:
    item = client.get_item(TableName=TABLE, Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item")
    return dict(item) if item else None


def add_one(pk: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": {"pk": {"S": pk}},
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


def count(client: Any, pk: str) -> int:
    item = stored(client, pk)
    return int(item["n"]["N"]) if item else 0


def error_code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


# --- lost responses ---------------------------------------------------------------------


def test_a_lost_response_applies_the_write_and_closes_the_connection_unanswered(faults, ddb_once):
    pk = new_id()
    rule = faults.inject(service="dynamodb", operation="PutItem", match=pk, fault="lose_response")

    with pytest.raises(ConnectionClosedError):
        put_new(ddb_once, pk)

    assert stored(ddb_once, pk) is not None
    assert faults.hits(rule) == 1


def test_botocore_retrying_a_lost_conditional_write_fails_on_its_own_committed_write(faults, ddb):
    pk = new_id()
    faults.inject(service="dynamodb", operation="PutItem", match=pk, fault="lose_response")

    with pytest.raises(ClientError) as caught:
        put_new(ddb, pk)

    assert error_code(caught.value) == "ConditionalCheckFailedException"
    assert stored(ddb, pk) is not None


def test_a_lost_response_with_status_500_answers_500_after_applying(faults, ddb_once):
    pk = new_id()
    faults.inject(service="dynamodb", operation="PutItem", match=pk, fault="lose_response", status=500)

    with pytest.raises(ClientError) as caught:
        put_new(ddb_once, pk)

    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert error_code(caught.value) == "InternalServerError"
    assert stored(ddb_once, pk) is not None


def test_a_lost_transaction_response_is_retried_by_token_without_applying_twice(faults, ddb):
    pk = new_id()
    rule = faults.inject(service="dynamodb", operation="TransactWriteItems", match=pk, fault="lose_response")

    ddb.transact_write_items(TransactItems=[add_one(pk)])  # botocore fills and reuses the token

    assert faults.hits(rule) == 1
    assert count(ddb, pk) == 1


# --- ClientRequestToken -------------------------------------------------------------------


def test_the_same_token_and_request_answers_success_without_reapplying(ddb):
    pk, token = new_id(), str(uuid.uuid4())

    ddb.transact_write_items(TransactItems=[add_one(pk)], ClientRequestToken=token)
    ddb.transact_write_items(TransactItems=[add_one(pk)], ClientRequestToken=token)

    assert count(ddb, pk) == 1


def test_the_same_token_with_another_request_is_an_idempotent_parameter_mismatch(ddb_once):
    pk, other, token = new_id(), new_id(), str(uuid.uuid4())
    ddb_once.transact_write_items(TransactItems=[add_one(pk)], ClientRequestToken=token)

    with pytest.raises(ClientError) as caught:
        ddb_once.transact_write_items(TransactItems=[add_one(other)], ClientRequestToken=token)

    assert error_code(caught.value) == "IdempotentParameterMismatchException"
    assert count(ddb_once, other) == 0


def test_a_new_token_applies_the_same_request_again(ddb):
    pk = new_id()

    ddb.transact_write_items(TransactItems=[add_one(pk)], ClientRequestToken=str(uuid.uuid4()))
    ddb.transact_write_items(TransactItems=[add_one(pk)], ClientRequestToken=str(uuid.uuid4()))

    assert count(ddb, pk) == 2


def test_a_token_whose_transaction_was_cancelled_runs_again(ddb_once):
    pk, token = new_id(), str(uuid.uuid4())
    guarded = add_one(pk)
    guarded["Update"]["ConditionExpression"] = "attribute_exists(pk)"
    with pytest.raises(ClientError) as caught:
        ddb_once.transact_write_items(TransactItems=[guarded], ClientRequestToken=token)
    assert error_code(caught.value) == "TransactionCanceledException"
    put_new(ddb_once, pk)

    ddb_once.transact_write_items(TransactItems=[guarded], ClientRequestToken=token)

    assert count(ddb_once, pk) == 1


# --- throttling, errors before applying, resets ----------------------------------------------


@pytest.mark.parametrize("code", ["ThrottlingException", "ProvisionedThroughputExceededException"])
def test_a_throttled_write_is_refused_with_the_code_and_not_applied(faults, ddb_once, code):
    pk = new_id()
    faults.inject(service="dynamodb", operation="PutItem", match=pk, fault="throttle", code=code)

    with pytest.raises(ClientError) as caught:
        put_new(ddb_once, pk)

    assert error_code(caught.value) == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert stored(ddb_once, pk) is None


def test_a_one_shot_throttle_is_absorbed_by_botocores_retry(faults, ddb):
    pk = new_id()
    rule = faults.inject(service="dynamodb", operation="PutItem", match=pk, fault="throttle")

    put_new(ddb, pk)

    assert faults.hits(rule) == 1
    assert stored(ddb, pk) is not None


def test_a_transaction_conflict_cancels_every_item_without_applying(faults, ddb):
    pk = new_id()
    faults.inject(
        service="dynamodb",
        operation="TransactWriteItems",
        match=pk,
        fault="throttle",
        code="TransactionConflict",
    )

    with pytest.raises(ClientError) as caught:
        ddb.transact_write_items(TransactItems=[add_one(pk), add_one(f"{pk}-b")])

    assert error_code(caught.value) == "TransactionCanceledException"
    reasons = [r["Code"] for r in caught.value.response["CancellationReasons"]]
    assert reasons == ["TransactionConflict", "TransactionConflict"]
    assert count(ddb, pk) == 0


@pytest.mark.parametrize(("status", "code"), [(500, "InternalServerError"), (503, "ServiceUnavailable")])
def test_an_error_before_applying_answers_the_status_and_stores_nothing(faults, ddb_once, status, code):
    pk = new_id()
    faults.inject(service="dynamodb", operation="PutItem", match=pk, fault="error_before", status=status)

    with pytest.raises(ClientError) as caught:
        put_new(ddb_once, pk)

    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert error_code(caught.value) == code
    assert stored(ddb_once, pk) is None


def test_a_reset_connection_stores_nothing(faults, ddb_once):
    pk = new_id()
    faults.inject(service="dynamodb", operation="PutItem", match=pk, fault="reset")

    with pytest.raises(ConnectionClosedError):
        put_new(ddb_once, pk)

    assert stored(ddb_once, pk) is None


def _raw_exchange(endpoint: str, body: bytes) -> bytes:
    """One DynamoDB-looking request on a raw socket; returns what came back (until close)."""
    host, port = endpoint.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"
            b"X-Amz-Target: DynamoDB_20120810.ListTables\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_a_reset_is_a_tcp_reset_and_a_lost_response_a_clean_close_with_no_answer(faults, endpoint):
    marker = new_id()
    body = json.dumps({"Limit": 1, "marker": marker}).encode()

    faults.inject(service="dynamodb", operation="ListTables", match=marker, fault="reset")
    with pytest.raises(ConnectionResetError):
        _raw_exchange(endpoint, body)

    faults.inject(service="dynamodb", operation="ListTables", match=marker, fault="lose_response")
    assert _raw_exchange(endpoint, body) == b""

    assert _raw_exchange(endpoint, body).startswith(b"HTTP/1.1 ")  # rules spent: answered again


# --- latency ----------------------------------------------------------------------------------


def test_latency_delays_the_answer_and_then_applies(faults, ddb):
    pk = new_id()
    faults.inject(service="dynamodb", operation="PutItem", match=pk, fault="latency", delay=0.6)

    started = time.monotonic()
    put_new(ddb, pk)

    assert time.monotonic() - started >= 0.6
    assert stored(ddb, pk) is not None


def test_a_released_hold_goes_on_at_once_instead_of_waiting_out_its_delay(faults, ddb):
    """Tests hold one request's call while another runs, then release it: the hold's
    delay is only an upper bound, so a slow machine gets time and a fast one waits
    for nothing."""
    import threading

    pk = new_id()
    rule = faults.inject(service="dynamodb", operation="PutItem", match=pk, fault="latency", delay=60)
    done = threading.Event()
    writer = threading.Thread(target=lambda: (put_new(ddb, pk), done.set()), daemon=True)
    writer.start()
    deadline = time.monotonic() + 30
    while faults.hits(rule) < 1:
        assert time.monotonic() < deadline, "the hold never caught the call"
        time.sleep(0.02)
    assert not done.is_set()  # held

    assert faults.release(rule) == 1
    assert done.wait(20), "the released call did not go on"
    assert stored(ddb, pk) is not None


# --- which requests a rule hits ------------------------------------------------------------------


def test_a_rule_hits_only_requests_whose_body_holds_its_match(faults, ddb_once):
    mine, other = new_id(), new_id()
    rule = faults.inject(service="dynamodb", operation="PutItem", match=mine, fault="error_before")

    put_new(ddb_once, other)
    with pytest.raises(ClientError):
        put_new(ddb_once, mine)

    assert faults.rule(rule)["hits"] == 1
    assert stored(ddb_once, other) is not None


def test_a_rule_hits_only_its_operation_and_service(faults, ddb_once):
    pk = new_id()
    rule = faults.inject(service="dynamodb", operation="UpdateItem", match=pk, fault="error_before")
    put_new(ddb_once, pk)
    s3_rule = faults.inject(service="s3", match=pk, fault="error_before")

    with pytest.raises(ClientError):
        ddb_once.update_item(
            TableName=TABLE,
            Key={"pk": {"S": pk}},
            UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": {"S": "x"}},
        )

    assert faults.hits(rule) == 1
    assert faults.hits(s3_rule) == 0


def test_times_bounds_the_hits_and_a_spent_rule_lets_requests_through(faults, ddb_once):
    pk = new_id()
    put_new(ddb_once, pk)
    rule = faults.inject(service="dynamodb", operation="GetItem", match=pk, fault="error_before", times=2)

    outcomes = []
    for _ in range(4):
        try:
            stored(ddb_once, pk)
            outcomes.append("ok")
        except ClientError:
            outcomes.append("failed")

    assert outcomes == ["failed", "failed", "ok", "ok"]
    assert faults.hits(rule) == 2


def test_times_null_hits_every_matching_request(faults, ddb_once):
    pk = new_id()
    rule = faults.inject(service="dynamodb", operation="GetItem", match=pk, fault="error_before", times=None)

    for _ in range(3):
        with pytest.raises(ClientError):
            stored(ddb_once, pk)

    assert faults.hits(rule) == 3


def _pattern(faults: FaultClient, ddb_once: Any, probability: float, seed: int | None) -> list[bool]:
    pk = new_id()
    kw: dict[str, Any] = {"seed": seed} if seed is not None else {}
    rule = faults.inject(
        service="dynamodb", operation="GetItem", match=pk, fault="error_before", probability=probability, **kw
    )
    hit = []
    for _ in range(30):
        try:
            stored(ddb_once, pk)
            hit.append(False)
        except ClientError:
            hit.append(True)
    assert faults.rule(rule)["hits"] == sum(hit)
    assert faults.rule(rule)["matched"] == 30
    return hit


def test_a_seeded_probability_hits_the_same_requests_every_run(faults, ddb_once):
    first = _pattern(faults, ddb_once, 0.5, seed=7)
    second = _pattern(faults, ddb_once, 0.5, seed=7)

    assert first == second
    assert 0 < sum(first) < 30


def test_probability_zero_never_hits_and_one_always_hits(faults, ddb_once):
    assert not any(_pattern(faults, ddb_once, 0.0, seed=None))
    assert all(_pattern(faults, ddb_once, 1.0, seed=None))


# --- S3 -------------------------------------------------------------------------------------------


def test_s3_rules_match_the_operation_and_the_url_path(faults, s3_once, bucket):
    key = f"{new_id()}/original.png"
    copy_key = f"{new_id()}/copy.png"
    put = faults.inject(service="s3", operation="PutObject", match=key, fault="lose_response", status=500)
    copy = faults.inject(
        service="s3", operation="CopyObject", match=copy_key, fault="error_before", status=503
    )
    delete = faults.inject(service="s3", operation="DeleteObjects", fault="error_before", times=None)
    head = faults.inject(service="s3", operation="HeadObject", match=key, fault="reset")

    with pytest.raises(ClientError):
        s3_once.put_object(Bucket=bucket, Key=key, Body=b"png")
    with pytest.raises(ClientError) as caught:
        s3_once.copy_object(Bucket=bucket, Key=copy_key, CopySource={"Bucket": bucket, "Key": key})
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    with pytest.raises(ClientError):
        s3_once.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key}]})
    with pytest.raises(ConnectionClosedError):
        s3_once.head_object(Bucket=bucket, Key=key)

    assert s3_once.get_object(Bucket=bucket, Key=key)["Body"].read() == b"png"  # the put was applied
    assert [faults.hits(rule) for rule in (put, copy, delete, head)] == [1, 1, 1, 1]
    faults.clear()
    with pytest.raises(ClientError) as missing:
        s3_once.head_object(Bucket=bucket, Key=copy_key)
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404  # the copy was not


def test_a_throttled_s3_call_answers_slow_down(faults, s3_once, bucket):
    key = f"{new_id()}/x.png"
    faults.inject(service="s3", operation="GetObject", match=key, fault="throttle")

    with pytest.raises(ClientError) as caught:
        s3_once.get_object(Bucket=bucket, Key=key)

    assert error_code(caught.value) == "SlowDown"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


# --- control -----------------------------------------------------------------------------------------


def test_get_lists_rules_with_their_hits_and_delete_clears_them(faults, ddb_once):
    pk = new_id()
    first = faults.inject(service="dynamodb", operation="GetItem", match=pk, fault="latency", delay=0.01)
    second = faults.inject(fault="throttle", match=pk, operation="Query")
    stored(ddb_once, pk)

    rules = {rule["id"]: rule for rule in faults.rules()}
    assert set(rules) == {first, second}
    assert rules[first]["hits"] == 1
    assert (rules[second]["hits"], rules[second]["times"], rules[second]["fault"]) == (0, 1, "throttle")

    faults.clear()
    assert faults.rules() == []


def test_a_bad_rule_is_refused_with_400_and_nothing_installed(faults, endpoint):
    r = requests.post(f"{endpoint}/_vidpipe/faults", json={"rules": [{"fault": "explode"}]}, timeout=10)

    assert r.status_code == 400
    assert "fault must be one of" in r.json()["detail"]
    assert faults.rules() == []


def test_rules_in_the_environment_are_installed_at_start(monkeypatch):
    rules = {"rules": [{"service": "dynamodb", "operation": "ListTables", "fault": "error_before"}]}
    monkeypatch.setenv(FAULTS_ENV, json.dumps(rules))
    server, endpoint = start_moto()
    try:
        client = _client("dynamodb", endpoint, 1)
        with pytest.raises(ClientError):
            client.list_tables()
        client.list_tables()  # one-shot by default
        assert [rule["hits"] for rule in FaultClient(endpoint).rules()] == [1]
    finally:
        server.stop()
