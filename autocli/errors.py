"""Errors carry a one-line message, a hint and the documented exit code; cli.main() prints them."""

from __future__ import annotations

# The documented exit codes (README, `autocli --help`): identical for every command.
OK = 0
INTERNAL = 1
USAGE = 2
NOT_REACHABLE = 3
INVALID_CHECKPOINT = 4
UNSUPPORTED = 5
REQUIREMENT_FAILED = 6
BATCH_INCOMPLETE = 7


class AutocliError(Exception):
    exit_code = INTERNAL

    def __init__(self, message: str, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def as_record(self) -> dict:
        """The error as it appears in a batch output record."""
        return {"message": self.message, "hint": self.hint, "exit_code": self.exit_code}


class UsageError(AutocliError):
    exit_code = USAGE


class NotReachable(AutocliError):
    exit_code = NOT_REACHABLE


class InvalidCheckpoint(AutocliError):
    exit_code = INVALID_CHECKPOINT


class Unsupported(AutocliError):
    exit_code = UNSUPPORTED


class RequirementFailed(AutocliError):
    exit_code = REQUIREMENT_FAILED


class BatchIncomplete(AutocliError):
    """Raised after every record was rendered, when some inputs failed."""

    exit_code = BATCH_INCOMPLETE
