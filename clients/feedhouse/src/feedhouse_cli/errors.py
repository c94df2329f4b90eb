"""What goes wrong, and the exit status that says which kind of wrong it is (scripts branch on these)."""

from __future__ import annotations

OK = 0
FAILED = 1  # refused for another reason (a 400 or 409), a check that failed, a local file in the way
USAGE = 2  # the command line itself (argparse exits 2 too)
AUTH = 3  # no token, or the server did not accept it (401)
FORBIDDEN = 4  # the token is good but may not do this (403)
NOT_FOUND = 5  # no such feed, package, version, token (404)
SERVER = 6  # the server failed (5xx)
UNREACHABLE = 7  # no answer at all: DNS, connection refused, TLS, timeout

_BY_STATUS = {401: AUTH, 403: FORBIDDEN, 404: NOT_FOUND}


def exit_code_for_status(status: int) -> int:
    if status >= 500:
        return SERVER
    return _BY_STATUS.get(status, FAILED)


class CliError(Exception):
    """Stops the command: ``message`` goes to standard error, ``exit_code`` to the shell."""

    def __init__(self, message: str, exit_code: int = FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
