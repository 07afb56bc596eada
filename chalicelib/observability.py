"""Structured logs and EMF metrics.

One JSON access-log line per request: request id (the X-Request-Id answered),
API Gateway's request id, owner id (never the token), route, method, status and
latency. Headers (but the sanitized X-Request-Id), bodies and URLs are never
logged, so neither bearer tokens nor presigned URLs can reach the logs. Metrics use
Powertools' EMF support, imported on first use (it costs ~60 ms to import).
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any

_owner: contextvars.ContextVar[str | None] = contextvars.ContextVar("owner", default=None)
NAMESPACE = "VidPipe/Manifests"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(entry, default=str)


access_log = logging.getLogger("vidpipe.access")


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout is now (Lambda, chalice local, test capture)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure() -> None:
    """JSON lines on stdout (CloudWatch Logs on Lambda)."""
    if getattr(access_log, "_vidpipe_configured", False):
        return
    handler = _StdoutHandler()
    handler.setFormatter(JsonFormatter())
    access_log.addHandler(handler)
    access_log.setLevel(logging.INFO)
    access_log.propagate = False
    # botocore announces at INFO where it found credentials, on every new client.
    logging.getLogger("botocore.credentials").setLevel(logging.WARNING)
    access_log._vidpipe_configured = True  # type: ignore[attr-defined]


def set_owner(owner_id: str | None) -> None:
    _owner.set(owner_id)


def log_request(request: Any, status: int, started: float, request_id: str | None = None) -> None:
    """`request_id` is the X-Request-Id the answer carries (the caller's or ours);
    API Gateway's own id is kept beside it to find the request in its logs."""
    context = getattr(request, "context", None) or {}
    gateway_request_id = context.get("requestId") or getattr(
        getattr(request, "lambda_context", None), "aws_request_id", None
    )
    access_log.info(
        "request",
        extra={
            "fields": {
                "request_id": request_id or gateway_request_id,
                "gateway_request_id": gateway_request_id,
                "owner_id": _owner.get(),
                "method": getattr(request, "method", None),
                "route": getattr(request, "path", None),  # the route template, never the raw URL
                "status": status,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            }
        },
    )
    _owner.set(None)


def count(name: str, value: int = 1) -> None:
    """One EMF metric line (CloudWatch extracts it from the log)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="service", value="manifests")
