"""Exceptions and warnings raised by sem_engine.

Every message says what is wrong and what the user can do about it.  Numeric code below the
results layer never raises: it returns status codes that the pipeline turns into these.
"""

from __future__ import annotations


class SemError(Exception):
    """Base class of every error sem_engine raises on purpose."""


class ModelSyntaxError(SemError, ValueError):
    """The model text cannot be parsed.

    Carries the 1-based ``line`` and ``column`` of the problem and prints the offending line with a
    caret under the column.
    """

    def __init__(self, message: str, text: str = "", line: int = 0, column: int = 0):
        self.reason = message
        self.line = line
        self.column = column
        self.source_line = _source_line(text, line)
        super().__init__(self._render())

    def _render(self) -> str:
        if self.line <= 0:
            return self.reason
        where = f"line {self.line}, column {self.column}: {self.reason}"
        if not self.source_line:
            return where
        caret = " " * (max(self.column, 1) - 1) + "^"
        return f"{where}\n    {self.source_line}\n    {caret}"


def _source_line(text: str, line: int) -> str:
    lines = text.splitlines()
    if 1 <= line <= len(lines):
        return lines[line - 1].expandtabs(1)
    return ""


class ModelError(SemError, ValueError):
    """The model parses but cannot be built (unsupported feature, contradictory modifiers)."""


class DataError(SemError, ValueError):
    """The data cannot be used: unknown variables, too few rows, non-positive-definite matrix."""


class IdentificationError(SemError, ValueError):
    """The model is not identified (negative df or a singular information matrix)."""


class SemWarning(UserWarning):
    """Base class of sem_engine's warnings."""


class ConvergenceWarning(SemWarning):
    """The optimizer stopped before the gradient tolerance was met."""


class HeywoodWarning(SemWarning):
    """A variance estimate is negative or a standardized value exceeds one in magnitude."""


class DataWarning(SemWarning):
    """Something about the data the user should know (rows dropped, near-singular covariance)."""
