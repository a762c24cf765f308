"""Where output goes: stdout, or a file written atomically (temporary file + rename)."""

from __future__ import annotations

import io
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from salescode.errors import OutputError


def emit(write: Callable[[IO[str]], None], output: Path | None) -> None:
    """Run write against stdout, or against a file that appears only if write succeeds."""
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
