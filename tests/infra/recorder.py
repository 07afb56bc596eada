"""Record every AWS API call the app makes, as botocore sees it.

A handler on botocore's `before-parameter-build` event sees each API call and
each presigned URL (`generate_presigned_url` emits the same event), with the
operation and its parameters, before anything is sent. Nothing is patched:
handlers are registered on the app's live clients, which are found with `gc`
after a first, unrecorded run of the flows has created them all (PynamoDB,
Powertools and our S3 wrapper each create their clients lazily, wherever they
like). Only calls from the recording thread count.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

UNIQUE_ID = "tests.infra.recorder"


@dataclass(frozen=True)
class Call:
    service: str  # botocore service name: dynamodb, s3, sqs
    operation: str  # botocore operation name: TransactWriteItems, HeadObject
    params: dict[str, Any] = field(hash=False, compare=False)
    presigned: bool = False
    flow: str = ""


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.flow = ""
        self._thread = threading.get_ident()
        self._clients: list[Any] = []
        self._paused = False

    def _on_call(self, params: dict[str, Any], model: Any, context: Any = None, **_: Any) -> None:
        if self._paused or threading.get_ident() != self._thread:
            return
        self.calls.append(
            Call(
                service=model.service_model.service_name,
                operation=model.name,
                params=dict(params),
                presigned=bool((context or {}).get("is_presign_request")),
                flow=self.flow,
            )
        )

    def attach_to_live_clients(self) -> int:
        from botocore.client import BaseClient

        for obj in gc.get_objects():
            if isinstance(obj, BaseClient):
                obj.meta.events.register("before-parameter-build", self._on_call, unique_id=UNIQUE_ID)
                self._clients.append(obj)
        return len(self._clients)

    def detach(self) -> None:
        for client in self._clients:
            client.meta.events.unregister("before-parameter-build", unique_id=UNIQUE_ID)
        self._clients.clear()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """For test setup that is not the app's own doing."""
        self._paused = True
        try:
            yield
        finally:
            self._paused = False
