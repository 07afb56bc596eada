"""S3 ObjectCreated -> SQS -> Lambda: verify and attach uploads whose client never
called upload-complete.

Each SQS message succeeds or fails alone (Powertools BatchProcessor): the answer
lists the failed message ids (`batchItemFailures`, with the event source
mapping's ReportBatchItemFailures), so SQS redelivers only those and then
dead-letters them, and one bad record never makes the others run again.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import unquote_plus

log = logging.getLogger(__name__)


def _handle_record(record: Any) -> None:
    from chalicelib import services

    body = json.loads(record.body)
    for s3_record in body.get("Records", []):  # an s3:TestEvent has none
        key = unquote_plus(s3_record["s3"]["object"]["key"])
        outcome = services.uploads().handle_object_created(key)
        log.info("upload event %s: %s", key, outcome)


def handle_batch(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Process every record; return the partial-batch answer for SQS."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    answer = process_partial_response(
        event=event, record_handler=_handle_record, processor=processor, context=context
    )
    return dict(answer)
