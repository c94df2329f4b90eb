"""Errors that reach a client: each carries the HTTP status, a stable code and a message that says
what to do. Handlers turn them into responses; anything else escaping a handler is a bug (500)."""

from __future__ import annotations


class FeedhouseError(Exception):
    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Response headers the error calls for, such as a 503's Retry-After.
        self.headers = headers or {}


class BadRequest(FeedhouseError):
    status = 400
    code = "bad_request"


class Unauthorized(FeedhouseError):
    status = 401
    code = "unauthorized"


class Forbidden(FeedhouseError):
    status = 403
    code = "forbidden"


class NotFound(FeedhouseError):
    status = 404
    code = "not_found"


class Conflict(FeedhouseError):
    status = 409
    code = "conflict"


class Gone(FeedhouseError):
    status = 410
    code = "gone"


class LengthRequired(FeedhouseError):
    status = 411
    code = "length_required"


class PayloadTooLarge(FeedhouseError):
    status = 413
    code = "payload_too_large"


class ServiceUnavailable(FeedhouseError):
    status = 503
    code = "unavailable"


class BadGateway(FeedhouseError):
    """Another server Feedhouse relies on (an upstream index) failed or answered nonsense."""

    status = 502
    code = "bad_gateway"


class GatewayTimeout(BadGateway):
    status = 504
    code = "gateway_timeout"
