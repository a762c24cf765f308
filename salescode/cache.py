"""A transparent Parquet cache of parsed CSV files, so repeated runs pay the CSV parse once.

Beside each entry it keeps what inspecting the file learned (its layout: separator, names,
types, formats), so that a repeated run does not read and infer the sample again either, and
markers of the data checks the entry has passed.

An entry is keyed by the file's resolved path, size, modification time and the bytes of its
beginning and end, by how salescode reads it (separator, encoding, types, date formats, names:
the Layout) and by the salescode and polars versions. Any change gives a new key, so a stale entry
is never served; the entries of a file's older versions are removed when a new one is written.

On by default; SALESCODE_NO_CACHE=1 (the --no-cache option) turns it off, SALESCODE_CACHE_DIR
moves it (default: $XDG_CACHE_HOME/salescode, else ~/.cache/salescode). A cache that cannot be
written is skipped: the run reads the CSV as if there were no cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from salescode import __version__
from salescode.catalog import ColumnType, Source
from salescode.sources import Layout, NumberFormat, inspect_source, scan_source

_EDGE_BYTES = 1 << 16  # the file's first and last bytes are part of the key


@dataclass(frozen=True)
class Cache:
    directory: Path

    @classmethod
    def from_environment(cls) -> Cache | None:
        """The cache the environment asks for, or None when it is turned off."""
        if os.environ.get("SALESCODE_NO_CACHE", "").strip() not in ("", "0"):
            return None
        return cls(cache_directory())

    def open(self, source: Source, date_columns: set[str]) -> tuple[Layout, pl.LazyFrame, Path | None]:
        """The source's layout and parsed frame, both from the cache when this version of the file
        has been read before (the entry is written first when missing), and the entry's path (None
        when the CSV is read instead)."""
        file = source.path.resolve()
        version = _file_version(file)
        if version is None:
            layout = inspect_source(source, date_columns)
            return layout, scan_source(layout), None
        layout = self._layout(source, date_columns, file, version)
        path = self.directory / f"{_digest(str(file))}-{version}-{_reading_digest(layout)}.parquet"
        if path.with_suffix(".skip").exists():
            return layout, scan_source(layout), None
        if not path.exists():
            try:
                self._write(layout, path)
            except OSError:
                return layout, scan_source(layout), None
            except pl.exceptions.PolarsError:
                # A value that does not fit its type, perhaps in a column no metric reads: the CSV is
                # read as without a cache (which names the value if a metric needs it), and this
                # version of the file is not tried again.
                path.with_suffix(".skip").touch()
                return layout, scan_source(layout), None
        return layout, pl.scan_parquet(path), path

    def _layout(self, source: Source, date_columns: set[str], file: Path, version: str) -> Layout:
        """inspect_source, remembered for this version of the file, so that a repeated run does not
        read and infer the sample again. Files read through a re-encoded copy are inspected anew."""
        asked = (
            source.columns,
            source.types,
            source.reader,
            sorted(date_columns),
            __version__,
            pl.__version__,
        )
        memo = self.directory / f"{_digest(str(file))}-{version}-{_digest(repr(asked))}.layout.json"
        layout = _read_layout(memo, source)
        if layout is None:
            layout = inspect_source(source, date_columns)
            if layout.text is None:
                _write_atomically(memo, _layout_json(layout).encode())
        return layout

    def _write(self, layout: Layout, path: Path) -> None:
        """Parse the whole file once into a Parquet entry (atomically), replacing older entries.

        A value that does not fit its column's type raises polars' error, as reading the CSV would.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".", suffix=".parquet.tmp", dir=path.parent)
        os.close(handle)
        try:
            scan_source(layout).sink_parquet(temporary)
            os.replace(temporary, path)
        finally:
            Path(temporary).unlink(missing_ok=True)
        file, version, _ = path.name.split("-")
        for entry in path.parent.glob(f"{file}-*"):
            if entry.name.split("-")[1] != version:  # an older version of the file
                entry.unlink(missing_ok=True)


def _reading_digest(layout: Layout) -> str:
    """How the file is read: one file may be read two ways (two sources), each its own entry."""
    reading = (
        layout.separator,
        layout.headers,
        layout.names,
        layout.types,
        layout.formats,
        layout.numbers,
        sorted(layout.offsets),
        layout.encoding,
    )
    return _digest(repr((reading, layout.source.reader, __version__, pl.__version__)))


def _file_version(file: Path) -> str | None:
    """A digest of the file's size, modification time and first and last bytes (None: unreadable)."""
    try:
        stat = file.stat()
        with file.open("rb") as handle:
            head = handle.read(_EDGE_BYTES)
            handle.seek(max(0, stat.st_size - _EDGE_BYTES))
            tail = handle.read(_EDGE_BYTES)
    except OSError:
        return None
    return hashlib.sha256(repr((stat.st_size, stat.st_mtime_ns)).encode() + head + tail).hexdigest()[:16]


def _layout_json(layout: Layout) -> str:
    return json.dumps(
        {
            "separator": layout.separator,
            "headers": layout.headers,
            "names": layout.names,
            "types": layout.types,
            "formats": layout.formats,
            "numbers": {name: asdict(number) for name, number in layout.numbers.items()},
            "offsets": sorted(layout.offsets),
            "encoding": layout.encoding,
            "encoding_detected": layout.encoding_detected,
        }
    )


def _read_layout(memo: Path, source: Source) -> Layout | None:
    """The remembered layout, or None when there is none (or it cannot be read)."""
    try:
        data = json.loads(memo.read_bytes())
        return Layout(
            source,
            None,
            data["separator"],
            tuple(data["headers"]),
            data["names"],
            {name: ColumnType(value) for name, value in data["types"].items()},
            data["formats"],
            {name: NumberFormat(**number) for name, number in data["numbers"].items()},
            frozenset(data["offsets"]),
            data["encoding"],
            data["encoding_detected"],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_atomically(path: Path, content: bytes) -> None:
    """Write a small cache file whole or not at all; a cache that cannot be written is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
    except OSError:
        return
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
        os.replace(temporary, path)
    except OSError:
        Path(temporary).unlink(missing_ok=True)


def passed_marker(entry: Path, check: str) -> Path:
    """The file that records that an entry's data passed a check ('fields', 'unique deal_id').

    Checks cost a pass over the data on every run; an entry's data never changes, so once a run
    has passed a check on it the marker lets later runs skip it.
    """
    return entry.with_name(f"{entry.name}.passed-{_digest(check)}")


def cache_directory() -> Path:
    configured = os.environ.get("SALESCODE_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "salescode"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def clear(directory: Path) -> tuple[int, int]:
    """Remove every cache entry and its markers; (entries removed, bytes freed)."""
    removed = freed = 0
    files = ("*.parquet", "*.skip", "*.passed-*", "*.layout.json")
    for entry in [found for pattern in files for found in directory.glob(pattern)]:
        try:
            size = entry.stat().st_size
            entry.unlink()
        except OSError:
            continue
        removed += entry.suffix == ".parquet"
        freed += size
    return removed, freed


def usage(directory: Path) -> tuple[int, int]:
    """(entries, bytes) in the cache."""
    sizes = [entry.stat().st_size for entry in directory.glob("*.parquet")]
    return len(sizes), sum(sizes)
