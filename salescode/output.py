"""Where output goes: stdout, a file written atomically (temporary file + rename), or a file
appended to under a lock (so two cron jobs appending at once never interleave lines).
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from salescode.errors import OutputError
from salescode.machine import MachineFormat, Table, write_machine


def emit(
    write: Callable[[IO[str]], None], output: Path | None, *, append: bool = False, header: bool = False
) -> None:
    """Run write against stdout, or against a file that appears only if write succeeds.

    append: add to the file instead (header: the text starts with a header line, written only
    when the file is new or empty, and checked against the file's own header otherwise).
    """
    if output is None:
        write(sys.stdout)
        sys.stdout.flush()
        return
    directory = output.parent if str(output.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError(f"--output {output}: the folder {directory} does not exist; create it first")
    if output.is_dir():
        raise OutputError(f"--output {output}: is a folder; name a file")
    buffer = io.StringIO()
    write(buffer)  # render fully before touching the file system: a failure leaves nothing behind
    if append:
        _append(output, buffer.getvalue(), header)
        return
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"--output {output}: cannot write in {directory} ({exc.strerror})") from exc
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(buffer.getvalue())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(temporary, output)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise OutputError(f"--output {output}: cannot write the file ({exc.strerror})") from exc


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _append(output: Path, text: str, header: bool) -> None:
    """Append text in one write while holding an exclusive lock on the file."""
    first, _, body = text.partition("\n")
    try:
        with open(output, "a+b") as file:
            _lock(file)
            file.seek(0)
            existing = file.readline().decode("utf-8", errors="replace").rstrip("\r\n")
            if header and existing and existing != first:
                raise OutputError(
                    f"--append {output}: the file's columns ({existing[:80]}) differ from this output's "
                    f"({first[:80]}); append to a file written by the same command and options"
                )
            size = file.seek(0, os.SEEK_END)
            if size:
                file.seek(size - 1)
                if file.read(1) != b"\n":
                    body, text = "\n" + body, "\n" + text  # the file's last line was not finished
            file.write((body if header and existing else text).encode("utf-8"))
            file.flush()
            os.fsync(file.fileno())
    except OSError as exc:
        raise OutputError(f"--output {output}: cannot append to the file ({exc.strerror})") from exc


def _lock(file: IO[bytes]) -> None:
    """An exclusive advisory lock, released when the file is closed (POSIX; elsewhere none)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return
    fcntl.flock(file.fileno(), fcntl.LOCK_EX)


FORMAT_BY_SUFFIX = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".md": "markdown"}
HUMAN_FORMATS = ("table", "markdown")


@dataclass(frozen=True)
class Destination:
    """Where a command's output goes and, for scripts, how it is written."""

    format: str  # table | markdown | csv | tsv | json | jsonl
    path: Path | None
    machine: MachineFormat | None  # None for table and markdown
    append: bool = False

    def send(self, table: Table, human: Callable[[IO[str]], None]) -> None:
        """The table in a machine format, or what human writes for table and markdown."""
        if self.machine is None:
            emit(human, self.path)
            return
        machine = self.machine
        emit(
            lambda out: write_machine(table, out, machine),
            self.path,
            append=self.append,
            header=machine.delimited and machine.header,
        )


def destination(
    fmt: str | None,
    path: Path | None,
    *,
    terminal: bool,
    append: bool = False,
    no_header: bool = False,
    separator: str | None = None,
    decimal_comma: bool = False,
    escape_formulas: bool = True,
) -> Destination:
    """Check the output options together. Without --format: a table on a terminal, else the
    format the file name implies (.csv .tsv .json .jsonl .md), else csv."""
    if fmt is None:
        fmt = (
            "table"
            if path is None and terminal
            else FORMAT_BY_SUFFIX.get(path.suffix.lower(), "csv")
            if path
            else "csv"
        )
    delimited = fmt in ("csv", "tsv")
    if append and path is None:
        raise OutputError("--append needs --output FILE (the file to add to)")
    if append and fmt not in ("csv", "tsv", "jsonl"):
        raise OutputError(f"--append works with csv, tsv and jsonl, not {fmt} (a whole document cannot grow)")
    for flag, used in (("--no-header", no_header), ("--decimal-comma", decimal_comma)):
        if used and not delimited:
            raise OutputError(f"{flag} applies to csv and tsv output, not {fmt}")
    if separator is not None and fmt != "csv":
        raise OutputError(f"--separator applies to csv output (tsv is always tab-separated), not {fmt}")
    separator = {"\\t": "\t", "tab": "\t"}.get(separator or "", separator)
    if separator is not None and len(separator) != 1:
        raise OutputError(f"--separator '{separator}': give one character, such as ';' or '|' (or 'tab')")
    if decimal_comma and separator == ",":
        raise OutputError("--decimal-comma with --separator ',' would split numbers; use --separator ';'")
    if fmt in HUMAN_FORMATS:
        return Destination(fmt, path, None)
    machine = MachineFormat(
        kind=fmt,
        header=not no_header,
        separator=separator or (";" if decimal_comma else ","),
        decimal_comma=decimal_comma,
        escape_formulas=escape_formulas,
    )
    return Destination(fmt, path, machine, append)
