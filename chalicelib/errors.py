"""Domain errors. They carry meaning, not HTTP; `chalicelib.http` maps them by class."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: a request the domain refuses, with a human-readable reason."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadRequestError(DomainError):
    """The request could not be read at all (malformed JSON, bad cursor)."""


class UnauthorizedError(DomainError):
    """No credentials, or credentials that do not verify."""


class NotFoundError(DomainError):
    """Unknown id, deleted resource, or a resource of another owner (never distinguished)."""


class ConflictError(DomainError):
    """The request contradicts the current state (e.g. deleting a referenced manifest)."""


class PreconditionFailedError(DomainError):
    """An If-Match precondition does not hold."""


class PayloadTooLargeError(DomainError):
    """The body or a declared upload is larger than allowed."""


class UnsupportedMediaTypeError(DomainError):
    """The body's media type is not one this route reads."""


class ValidationFailedError(DomainError):
    """Values are well-formed but invalid; `errors` lists the fields."""

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors or []


class LimitExceededError(DomainError):
    """A quota (e.g. assets per manifest) would be exceeded."""


class ServiceUnavailableError(DomainError):
    """A dependency (table, bucket, idempotency store) does not answer, or throttles
    beyond our retries. Raised where the SDK is called, `from` the SDK error."""

    def __init__(self, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
