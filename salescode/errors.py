"""User-facing errors: their text is a complete sentence that says what is wrong and what to do."""

from __future__ import annotations


class SalescodeError(Exception):
    """A problem the user can fix: bad catalog, bad data, bad option. Exit code 2."""


class CatalogError(SalescodeError):
    """The catalog file is missing, malformed or inconsistent."""

    def __init__(self, path: object, problems: list[str]) -> None:
        self.problems = problems
        if len(problems) == 1:
            message = f"{path}: {problems[0]}"
        else:
            lines = "\n".join(f"  {problem}" for problem in problems)
            message = f"{len(problems)} problems in {path}:\n{lines}"
        super().__init__(message)


class SourceError(SalescodeError):
    """A data file cannot be read, or holds a value that does not fit its column."""


class PeriodError(SalescodeError):
    """A --period value that cannot be understood."""


class OutputError(SalescodeError):
    """The output cannot be written where the user asked."""
