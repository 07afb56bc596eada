"""Counting DynamoDB calls and items read, from botocore's own events.

Handlers are registered on the botocore clients PynamoDB already uses (one per
model class, plus the connection used for transactions). Nothing is replaced:
the calls go to the server as they would anyway, and we only read what comes
back.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Usage:
    """What one request cost in DynamoDB terms."""

    calls: Counter[str] = field(default_factory=Counter)
    items_read: int = 0
    read_units: float = 0.0
    seconds: float = 0.0

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


def items_read(operation: str, parsed: dict[str, Any]) -> int:
    """Items DynamoDB read to answer: ScannedCount for Query/Scan (what it
    examined, not what it returned after filtering), the items returned by
    GetItem, BatchGetItem and TransactGetItems."""
    if operation in ("Query", "Scan"):
        return int(parsed.get("ScannedCount", 0))
    if operation == "GetItem":
        return 1 if parsed.get("Item") else 0
    if operation == "BatchGetItem":
        return sum(len(items) for items in parsed.get("Responses", {}).values())
    if operation == "TransactGetItems":
        return sum(1 for r in parsed.get("Responses", []) if r.get("Item"))
    return 0


def read_units(operation: str, parsed: dict[str, Any], consistent: bool) -> float:
    """RCU as DynamoDB bills them: a Query by the summed size of what it read,
    rounded up to 4 KB; GetItem/BatchGetItem per item, each rounded up; half
    for eventually consistent reads."""
    from bench.write_cost import item_size

    def four_kb(size: int) -> int:
        return max(1, math.ceil(size / 4096))

    if operation in ("Query", "Scan"):
        units = four_kb(sum(item_size(i) for i in parsed.get("Items", [])))
    elif operation == "GetItem":
        units = four_kb(item_size(parsed.get("Item")))
    elif operation == "BatchGetItem":
        units = sum(four_kb(item_size(i)) for items in parsed.get("Responses", {}).values() for i in items)
    else:
        return 0.0
    return units if consistent else units / 2


class DynamoDBMeter:
    """Accumulates `Usage` from every client it is attached to."""

    def __init__(self) -> None:
        self.usage = Usage()
        self._started: dict[int, float] = {}
        self._consistent: dict[int, bool] = {}
        self._clients: list[Any] = []

    def attach(self, client: Any) -> None:
        if any(c is client for c in self._clients):
            return
        client.meta.events.register("before-call.dynamodb", self._before_call)
        client.meta.events.register("after-call.dynamodb", self._after_call)
        self._clients.append(client)

    def attach_all(self) -> int:
        """Attach to every client PynamoDB uses for our models and transactions."""
        from pynamodb.models import Model

        from chalicelib import models
        from chalicelib.repositories import base

        for value in vars(models).values():
            if isinstance(value, type) and issubclass(value, Model) and value is not Model:
                self.attach(value._get_connection().connection.client)
        self.attach(base.connection().client)
        return len(self._clients)

    def reset(self) -> Usage:
        used, self.usage = self.usage, Usage()
        return used

    def _before_call(self, context: dict[str, Any], params: dict[str, Any], **_: Any) -> None:
        self._started[id(context)] = time.perf_counter()
        body = json.loads(params.get("body") or "{}")
        tables = body.get("RequestItems", {}).values()
        self._consistent[id(context)] = bool(body.get("ConsistentRead")) or any(
            t.get("ConsistentRead") for t in tables if isinstance(t, dict)
        )

    def _after_call(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        started = self._started.pop(id(context), None)
        if started is not None:
            self.usage.seconds += time.perf_counter() - started
        self.usage.calls[model.name] += 1
        self.usage.items_read += items_read(model.name, parsed)
        consistent = self._consistent.pop(id(context), False)
        self.usage.read_units += read_units(model.name, parsed, consistent)
