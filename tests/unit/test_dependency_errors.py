"""Which SDK failures are the dependency's fault (503) and which are ours (a bug)."""

from __future__ import annotations

from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError

from chalicelib.repositories.base import condition_failed, error_code, is_transient


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutItem")


def test_an_error_without_a_response_has_no_code_instead_of_crashing():
    """PynamoDB's cause_response_code raised AttributeError here (`response` is None)."""
    exc = TransactWriteError("no answer", ReadTimeoutError(endpoint_url="http://x"))
    assert error_code(exc) is None
    assert is_transient(exc)
    assert is_transient(UpdateError("closed", ConnectionClosedError(endpoint_url="http://x")))


def test_throttling_and_server_errors_are_transient_and_refusals_are_not():
    assert is_transient(PutError("t", client_error("ThrottlingException", 400)))
    assert is_transient(PutError("t", client_error("ProvisionedThroughputExceededException", 400)))
    assert is_transient(PutError("s", client_error("InternalServerError", 500)))
    assert is_transient(PutError("s", client_error("SomethingNew", 503)))
    assert not is_transient(PutError("v", client_error("ValidationException", 400)))
    refused = PutError("c", client_error("ConditionalCheckFailedException", 400))
    assert not is_transient(refused)
    assert condition_failed(refused)
