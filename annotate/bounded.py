"""The one bounded reader of uploaded files: text, CSV, JSON, YAML, XML and zip archives, each within limits.

Every parser of a file somebody uploads (gold, categories, annotation imports) reads it through here, so a
hostile file costs at most a known amount of time and memory and ends in a clear error, never a 500:

- size: the caller's byte limit for the whole file (`Limits.max_bytes`), checked before anything is parsed;
- text: UTF-8 (a BOM is dropped); a NUL byte refuses the file (PostgreSQL text cannot hold it);
- JSON: nesting at most `max_depth` levels (counted on the text, before `json` recurses), numbers of at most
  `max_number_chars` characters (a 5,000-digit number is refused, not turned into a ValueError), no NaN or
  Infinity, strings of at most `max_field_chars` characters;
- CSV: one result per row, a row whose field is longer than `max_field_chars` (or that the csv module cannot
  read) is a `CsvProblem` for that row while the others are read; at most `max_rows` rows;
- YAML: safe-loaded (no Python tags) with aliases refused outright (`*name`: the "billion laughs" of YAML),
  nesting at most `max_depth`, at most `max_nodes` nodes, scalars of at most `max_field_chars` characters;
- XML: defusedxml (no entities, no external DTD), at most `max_bytes`;
- zip: members counted and their declared sizes summed from the central directory before any is read
  (`max_files`, `max_total_bytes`), each read with a cap, no absolute or `..` paths.

A whole file that breaks a limit raises `BoundedError` (a ValueError with a `code`); callers turn it into their
own 400. No Django import: the pure parsers (labeling/services/imports/parsers.py) use it too.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, Any

MAX_DEPTH = 64
MAX_NUMBER_CHARS = 40
MAX_FIELD_CHARS = 65_536
MAX_YAML_BYTES = 256 * 1024
MAX_YAML_NODES = 100_000
MAX_XML_BYTES = 10 * 1024 * 1024
MAX_ARCHIVE_FILES = 200_000
MAX_ARCHIVE_BYTES = 200 * 1024 * 1024


class BoundedError(ValueError):
    """The file as a whole is over a limit or unreadable; `code` is stable (too_large, too_deep, invalid_file ...)."""

    def __init__(self, message: str, code: str = "invalid_file") -> None:
        super().__init__(message)
        self.message, self.code = message, code


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_depth: int = MAX_DEPTH
    max_number_chars: int = MAX_NUMBER_CHARS
    max_field_chars: int = MAX_FIELD_CHARS
    max_rows: int = 1_000_000
    max_nodes: int = MAX_YAML_NODES


def check_size(data: bytes | str, limits: Limits, what: str = "The file") -> None:
    if len(data) > limits.max_bytes:
        raise BoundedError(f"{what} is larger than {_size(limits.max_bytes)}.", "too_large")


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB" if n >= 1024 * 1024 else f"{n} bytes"


def read_file(path: str | os.PathLike[str], max_bytes: int, what: str = "The file") -> bytes:
    """A file's bytes, read with a cap (never more than `max_bytes` + 1 bytes in memory): BoundedError past it.
    For files named on a command line, which may be anything (a 10 GB dump, /dev/zero)."""
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise BoundedError(f"{what} is larger than {_size(max_bytes)}.", "too_large")
    return data


def decode_text(data: bytes, limits: Limits, what: str = "The file") -> str:
    """UTF-8 text (BOM dropped) of at most `limits.max_bytes`; BoundedError for binary or NUL-bearing data."""
    check_size(data, limits, what)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BoundedError(f"Not UTF-8 text (byte {exc.start}).") from exc
    if "\x00" in text:
        raise BoundedError(f"{what} contains NUL bytes: upload a UTF-8 text file.")
    return text


# --- JSON ---------------------------------------------------------------------------------------------------------

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


_YAML_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\']|\'\')*\'', re.DOTALL)


def _flow_depth(text: str, limits: Limits, what: str) -> None:
    """YAML flow nesting (`[[[...`) measured before PyYAML's scanner sees it (its cost grows with the square of
    the depth: 3,000 levels take seconds even though the composer would stop at `max_depth`)."""
    depth = 0
    for m in _JSON_BRACKET.finditer(_YAML_QUOTED.sub("", text)):
        if m.group() in "[{":
            depth += 1
            if depth > limits.max_depth:
                raise BoundedError(f"{what} is nested deeper than {limits.max_depth} levels.", "too_deep")
        else:
            depth = max(0, depth - 1)


def _json_scan(text: str, limits: Limits) -> None:
    """Nesting depth and string lengths, measured on the text before `json` builds (and recurses into) it."""
    longest = limits.max_field_chars + 2

    def blank(m: re.Match[str]) -> str:
        if len(m.group()) > longest:
            raise BoundedError(f"A JSON string is longer than {limits.max_field_chars} characters.", "too_long")
        return '""'

    depth = 0
    for m in _JSON_BRACKET.finditer(_JSON_STRING.sub(blank, text)):
        if m.group() in "[{":
            depth += 1
            if depth > limits.max_depth:
                raise BoundedError(f"JSON nested deeper than {limits.max_depth} levels.", "too_deep")
        else:
            depth -= 1


def _number(limits: Limits, convert: type) -> Any:
    def parse(text: str) -> Any:
        if len(text) > limits.max_number_chars:
            raise BoundedError(f"A JSON number is longer than {limits.max_number_chars} characters.", "too_long")
        value = convert(text)
        if isinstance(value, float) and not math.isfinite(value):
            raise BoundedError("JSON numbers must be finite.")
        return value

    return parse


def _no_constant(name: str) -> Any:
    raise BoundedError(f"JSON {name} is not a number.")


def read_json(data: bytes | str, limits: Limits, what: str = "The file") -> Any:
    """The parsed document; BoundedError (with the line for syntax errors) for anything over a limit."""
    text = data if isinstance(data, str) else decode_text(data, limits, what)
    check_size(text.encode() if isinstance(data, str) else data, limits, what)
    if "\x00" in text:
        raise BoundedError(f"{what} contains NUL characters.")
    _json_scan(text, limits)
    try:
        return json.loads(text, parse_int=_number(limits, int), parse_float=_number(limits, float),
                          parse_constant=_no_constant)  # fmt: skip
    except json.JSONDecodeError as exc:
        raise BoundedError(f"Invalid JSON: {exc.msg} (line {exc.lineno}).") from exc
    except RecursionError as exc:  # the scan above makes this unreachable; a last guard
        raise BoundedError("JSON nested too deeply.", "too_deep") from exc
    except ValueError as exc:
        if isinstance(exc, BoundedError):
            raise
        raise BoundedError(f"Invalid JSON: {exc}.") from exc


# --- CSV ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvRow:
    line: int  # the line the row ends on (csv's line_num), as a person sees it in an editor
    cells: list[str]


@dataclass(frozen=True)
class CsvProblem:
    line: int
    message: str


def read_csv(text: str, limits: Limits) -> Iterator[CsvRow | CsvProblem]:
    """Rows of a CSV text; a row the csv module cannot read or with an over-long field is a CsvProblem (that row
    only). More than `limits.max_rows` rows is a BoundedError."""
    reader = csv.reader(io.StringIO(text))
    count = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            too_long = "field limit" in str(exc)
            message = f"a field is longer than {limits.max_field_chars} characters" if too_long else f"{exc}"
            yield CsvProblem(reader.line_num, message)
            continue
        count += 1
        if count > limits.max_rows:
            raise BoundedError(f"More than {limits.max_rows} rows.", "too_many_entries")
        if any(len(c) > limits.max_field_chars for c in cells):
            yield CsvProblem(reader.line_num, f"a field is longer than {limits.max_field_chars} characters")
            continue
        yield CsvRow(reader.line_num, cells)


# --- YAML ---------------------------------------------------------------------------------------------------------


def read_yaml(data: bytes | str, limits: Limits | None = None, what: str = "The file") -> Any:
    """Safe-loaded YAML without aliases, within depth, node count and scalar length limits."""
    import yaml

    limits = limits or Limits(max_bytes=MAX_YAML_BYTES)
    text = data if isinstance(data, str) else decode_text(data, limits, what)
    check_size(text, limits, what)
    _flow_depth(text, limits, what)

    class Loader(yaml.SafeLoader):
        """The pure-Python safe loader (libyaml's composer cannot be bounded) that refuses aliases."""

        depth = 0
        nodes = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise BoundedError("YAML aliases (*name) are not accepted.", "yaml_alias")
            self.nodes += 1
            if self.nodes > limits.max_nodes:
                raise BoundedError(f"More than {limits.max_nodes} YAML nodes.", "too_large")
            self.depth += 1
            if self.depth > limits.max_depth:
                raise BoundedError(f"YAML nested deeper than {limits.max_depth} levels.", "too_deep")
            try:
                node = super().compose_node(parent, index)
            finally:
                self.depth -= 1
            if isinstance(node, yaml.ScalarNode) and len(node.value) > limits.max_field_chars:
                raise BoundedError(f"A YAML value is longer than {limits.max_field_chars} characters.", "too_long")
            return node

    loader = None
    try:
        loader = Loader(text)  # the reader already refuses some characters here
        return loader.get_single_data()
    except BoundedError:
        raise
    except yaml.YAMLError as exc:
        raise BoundedError(f"{what} is not valid YAML ({str(exc)[:200]}).") from exc
    except (ValueError, TypeError, RecursionError) as exc:  # e.g. a 5,000-digit int, an unhashable key
        raise BoundedError(f"{what} is not valid YAML ({type(exc).__name__}).") from exc
    finally:
        if loader is not None:
            loader.dispose()


# --- XML ----------------------------------------------------------------------------------------------------------


def read_xml(data: bytes, max_bytes: int = MAX_XML_BYTES, what: str = "The file") -> Any:
    """The root element, parsed by defusedxml (entities, external DTDs and references refused)."""
    from defusedxml import ElementTree
    from defusedxml.common import DefusedXmlException

    if len(data) > max_bytes:
        raise BoundedError(f"{what} is larger than {_size(max_bytes)}.", "too_large")
    try:
        return ElementTree.fromstring(data)
    except (ElementTree.ParseError, DefusedXmlException, ValueError, RecursionError) as exc:
        raise BoundedError(f"not valid XML ({str(exc)[:200]})") from exc


# --- zip archives -------------------------------------------------------------------------------------------------


def zip_declared_entries(fh: IO[bytes]) -> int | None:
    """The entry count a zip's end-of-central-directory record declares, read from the file's end only: check it
    before `zipfile.ZipFile` lists every entry (one ZipInfo each, so memory grows with the declared count).
    None when there is no such record; the file position is restored."""
    position = fh.tell()
    try:
        endrec = zipfile._EndRecData(fh)
    except (OSError, ValueError, IndexError, struct.error):
        return None
    finally:
        fh.seek(position)
    return None if not endrec else int(endrec[zipfile._ECD_ENTRIES_TOTAL])


def _declared_entries(data: bytes) -> int | None:
    return zip_declared_entries(io.BytesIO(data))


def is_zip(data: bytes) -> bool:
    return zipfile.is_zipfile(io.BytesIO(data))


def read_archive(data: bytes, *, suffixes: set[str] | frozenset[str], max_files: int = MAX_ARCHIVE_FILES,
                 max_total_bytes: int = MAX_ARCHIVE_BYTES) -> dict[str, bytes]:  # fmt: skip
    """The members of a zip whose names end in one of `suffixes` (lower case, with the dot), by path. Counts
    and declared sizes are checked before any member is read; each read is capped (a lying header cannot
    inflate past the budget); absolute paths, `..` and __MACOSX are skipped."""

    def budget(total: int, count: int) -> None:
        if total > max_total_bytes or count > max_files:
            raise BoundedError(
                f"The archive is too large (at most {max_files} files, {_size(max_total_bytes)} of text).", "too_large"
            )

    declared = _declared_entries(data)
    if declared is not None and declared > max_files * 4:  # other members (images) are allowed, within reason
        budget(0, declared)
    out: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = [m for m in zf.infolist()
                       if not m.is_dir() and PurePosixPath(m.filename).suffix.lower() in suffixes]  # fmt: skip
            budget(sum(m.file_size for m in members), len(members))
            total = 0
            for m in members:
                parts = PurePosixPath(m.filename).parts
                if not parts or m.filename.startswith("/") or ".." in parts or parts[0].startswith("__MACOSX"):
                    continue
                with zf.open(m) as fh:
                    content = fh.read(max_total_bytes - total + 1)
                total += len(content)
                budget(total, len(out) + 1)
                out[m.filename] = content
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError) as exc:
        raise BoundedError(f"The archive cannot be read ({type(exc).__name__}).") from exc
    except RuntimeError as exc:  # encrypted members
        raise BoundedError("The archive has encrypted members.") from exc
    return out
