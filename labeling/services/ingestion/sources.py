"""Where a batch's inputs come from: a folder, a zip/tar archive, a URL list, or uploaded files.

A source is listed twice (once to create the IngestEntry rows, once to process what is still
pending), so listing must be deterministic. Unsafe members (path traversal, links, bombs) are
yielded with a `Rejected` verdict so they appear in the report. A source that cannot be opened at all,
or an archive with an absurd entry count or total size, raises `SourceError`: the batch fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from django.core.files.storage import default_storage

from annotate.bounded import BoundedError, CsvProblem, Limits, check_size, read_csv, zip_declared_entries
from annotate.conf import options
from labeling.services.ingestion.validation import Rejected

STORAGE_PREFIX = "storage:"
MAX_URL_LIST_BYTES = 20 * 1024 * 1024
MAX_URL_CHARS = 8192  # one URL (or CSV field) of a URL list; a longer one is a rejected line


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class SourceError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class SourceEntry:
    key: str
    category: str | None = None
    read: Callable[[], bytes] | None = None
    url: str = ""
    license: str = ""
    attribution: str = ""
    query: str = ""
    error: Rejected | None = None
    size: int | None = None  # bytes, when the listing knows them (files, archive members): chunks are capped by it


def _bounded_read(fh: IO[bytes]) -> bytes:
    max_bytes = options().MAX_IMAGE_BYTES
    data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise Rejected("too_large", f"The file is larger than the {max_bytes}-byte limit.")
    return data


def _open_binary(source: str, stack: ExitStack) -> IO[bytes]:
    try:
        if source.startswith(STORAGE_PREFIX):
            return stack.enter_context(default_storage.open(source[len(STORAGE_PREFIX) :], "rb"))
        return stack.enter_context(open(source, "rb"))
    except OSError as exc:
        raise SourceError("source_unreadable", f"Cannot open {source}: {exc.strerror or exc}") from exc


def _unsafe_member_name(name: str) -> str | None:
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "an absolute or Windows path"
    if any(part == ".." for part in PurePosixPath(name).parts):
        return "a '..' component"
    return None


def _category_of(rel: str) -> str | None:
    parent = PurePosixPath(rel).parent.name
    return parent or None


def _skip_name(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return any((p.startswith(".") and p not in {".", ".."}) or p == "__MACOSX" for p in parts)


class Source:
    """Yields SourceEntry objects; `sequential` sources must be read in order, in the listing thread."""

    sequential = False

    def __init__(self, source: str) -> None:
        self.source = source
        self._stack = ExitStack()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def entries(self) -> Iterator[SourceEntry]:
        raise NotImplementedError


class FolderSource(Source):
    def entries(self) -> Iterator[SourceEntry]:
        root = Path(self.source)
        if not root.is_dir():
            raise SourceError("source_missing", f"{self.source} is not a folder.")
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                path = Path(dirpath) / name
                rel = path.relative_to(root).as_posix()
                entry = SourceEntry(key=rel, category=_category_of(rel))
                if path.is_symlink():
                    entry.error = Rejected("symlink", "Symbolic links are not followed.")
                else:
                    entry.read = lambda path=path: _read_path(path)
                    with contextlib.suppress(OSError):
                        entry.size = path.lstat().st_size
                yield entry


def _read_path(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return _bounded_read(fh)


class UploadSource(Source):
    """Files a researcher uploaded, kept in storage under one prefix (`storage:uploads/<token>/`)."""

    def entries(self) -> Iterator[SourceEntry]:
        prefix = self.source[len(STORAGE_PREFIX) :].rstrip("/")
        try:
            _, files = default_storage.listdir(prefix)
        except OSError as exc:
            raise SourceError("source_missing", f"The uploaded files are gone: {exc}") from exc
        for name in sorted(files):
            entry = SourceEntry(key=name)
            entry.read = lambda name=f"{prefix}/{name}": _read_storage(name)
            yield entry


def _read_storage(name: str) -> bytes:
    with default_storage.open(name, "rb") as fh:
        return _bounded_read(fh)


class ArchiveSource(Source):
    sequential = True

    def entries(self) -> Iterator[SourceEntry]:
        fh = _open_binary(self.source, self._stack)
        if zipfile.is_zipfile(fh):
            fh.seek(0)
            yield from self._zip_entries(fh)
            return
        fh.seek(0)
        try:
            tar = self._stack.enter_context(tarfile.open(fileobj=fh, mode="r:*"))  # noqa: SIM115
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise SourceError("archive_unreadable", "Not a readable .zip, .tar or .tar.gz archive.") from exc
        yield from self._tar_entries(tar)

    def _zip_entries(self, fh: IO[bytes]) -> Iterator[SourceEntry]:
        declared = zip_declared_entries(fh)
        if declared is not None:
            _check_totals(declared, 0)  # before zipfile builds one ZipInfo per listed entry
        try:
            archive = self._stack.enter_context(zipfile.ZipFile(fh))
            infos = archive.infolist()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise SourceError("archive_unreadable", f"Not a readable zip archive: {exc}") from exc
        _check_totals(len(infos), sum(i.file_size for i in infos))
        for info in infos:
            if info.is_dir() or _skip_name(info.filename):
                continue
            entry = SourceEntry(key=info.filename, category=_category_of(info.filename), size=info.file_size)
            mode = info.external_attr >> 16
            entry.error = _member_verdict(info.filename, info.file_size, info.compress_size, stat.S_ISLNK(mode))
            if entry.error is None:
                entry.read = lambda info=info, archive=archive: _read_zip(archive, info)
            yield entry

    def _tar_entries(self, tar: tarfile.TarFile) -> Iterator[SourceEntry]:
        count, total = 0, 0
        try:
            for member in tar:
                count += 1
                total += max(member.size, 0)
                _check_totals(count, total)
                if member.isdir() or _skip_name(member.name):
                    continue
                entry = SourceEntry(key=member.name, category=_category_of(member.name), size=max(member.size, 0))
                if member.issym() or member.islnk():
                    entry.error = Rejected("symlink", f"Links are not extracted ({member.name} -> {member.linkname}).")
                elif not member.isfile():
                    entry.error = Rejected("not_a_file", "Devices, FIFOs and other special members are skipped.")
                else:
                    entry.error = _member_verdict(member.name, member.size, None, False)
                if entry.error is None:
                    entry.read = lambda member=member: _read_tar(tar, member)
                yield entry
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise SourceError("archive_unreadable", f"The archive is damaged: {exc}") from exc


def _check_totals(count: int, total: int) -> None:
    if count > options().ARCHIVE_MAX_ENTRIES:
        raise SourceError("archive_too_many_entries", f"More than {options().ARCHIVE_MAX_ENTRIES} entries.")
    max_total = options().ARCHIVE_MAX_TOTAL_BYTES
    if total > max_total:
        raise SourceError("archive_bomb", f"The archive expands to more than {max_total} bytes.")


def _member_verdict(name: str, size: int, compressed: int | None, is_link: bool) -> Rejected | None:
    why = _unsafe_member_name(name)
    if why:
        return Rejected("unsafe_path", f"{name!r} has {why}; it is not extracted.")
    if is_link:
        return Rejected("symlink", "Links are not extracted.")
    ratio = size / compressed if compressed else 0
    if size > 1024 * 1024 and ratio > options().ARCHIVE_MAX_RATIO:
        return Rejected("archive_bomb", f"Compression ratio {ratio:.0f}:1 ({size} bytes expanded); refused.")
    if size > options().MAX_IMAGE_BYTES:
        return Rejected("too_large", f"The member is {size} bytes; the limit is {options().MAX_IMAGE_BYTES}.")
    return None


def _read_zip(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    try:
        with archive.open(info) as fh:
            return _bounded_read(fh)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise Rejected("archive_member_unreadable", f"Cannot extract: {exc}") from exc


def _read_tar(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    try:
        fh = tar.extractfile(member)
        if fh is None:
            raise Rejected("not_a_file", "Not a regular file.")
        return _bounded_read(fh)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise Rejected("archive_member_unreadable", f"Cannot extract: {exc}") from exc


class UrlListSource(Source):
    """CSV `url,category[,license,attribution,query]` (optional header row) or one URL per line, read through the
    bounded reader (annotate.bounded): the file within MAX_URL_LIST_BYTES, at most ARCHIVE_MAX_ENTRIES URLs
    (checked before any entry is listed), a line the CSV reader cannot read or a field longer than
    MAX_URL_CHARS is one rejected entry (`#line N`), the others are read."""

    def entries(self) -> Iterator[SourceEntry]:
        yield from self._listed()

    def _listed(self) -> list[SourceEntry]:
        raw = _open_binary(self.source, self._stack).read(MAX_URL_LIST_BYTES + 1)
        limits = Limits(max_bytes=MAX_URL_LIST_BYTES, max_field_chars=MAX_URL_CHARS)
        try:
            check_size(raw, limits, "The URL list")
        except BoundedError as exc:
            raise SourceError("url_list_too_large", exc.message) from exc
        text = raw.decode("utf-8-sig", errors="replace")
        # blank and comment lines are kept empty, so line numbers stay those of the file
        lines = ["" if not line.strip() or line.lstrip().startswith("#") else line for line in text.splitlines()]
        first = next((line for line in lines if line), None)
        if first is None:
            return []
        try:
            out = list(_csv_entries(lines, limits) if "," in first else _plain_entries(lines))
        except BoundedError as exc:
            raise SourceError("url_list_unreadable", exc.message) from exc
        cap = options().ARCHIVE_MAX_ENTRIES
        if len(out) > cap:
            raise SourceError("url_list_too_many_entries", f"The URL list holds more than {cap} entries.")
        return out


def _refused_line(line: int, message: str) -> SourceEntry:
    """A line that is not read, under a key no URL can have (URL lines never start with '#')."""
    return SourceEntry(key=f"#line {line}", error=Rejected("invalid_entry", f"Line {line}: {message}."))


def _plain_entries(lines: list[str]) -> Iterator[SourceEntry]:
    for number, line in enumerate(lines, start=1):
        url = line.strip()
        if not url:
            continue
        if len(url) > MAX_URL_CHARS:
            yield _refused_line(number, f"the URL is longer than {MAX_URL_CHARS} characters")
            continue
        yield SourceEntry(key=url, url=url)


def _csv_entries(lines: list[str], limits: Limits) -> Iterator[SourceEntry]:
    fields = ["url", "category", "license", "attribution", "query"]
    first = True
    for row in read_csv("\n".join(lines), limits):
        if isinstance(row, CsvProblem):
            first = False
            yield _refused_line(row.line, row.message)
            continue
        if not row.cells:
            continue
        if first and row.cells[0].strip().lower() == "url":
            fields = [c.strip().lower() for c in row.cells]
            first = False
            continue
        first = False
        values = dict(zip(fields, (c.strip() for c in row.cells), strict=False))
        url = values.get("url", "")
        if not url:
            continue
        category = values.get("category") or None
        yield SourceEntry(
            key=f"{url}\t{category or ''}",
            url=url,
            category=category,
            license=values.get("license", "")[:200],
            attribution=values.get("attribution", "")[:500],
            query=values.get("query", "")[:500],
        )


def source_open(kind: str, source: str) -> Source:
    classes = {"folder": FolderSource, "archive": ArchiveSource, "urls": UrlListSource, "upload": UploadSource}
    if kind not in classes:
        raise SourceError("unknown_kind", f"Unknown source kind {kind!r}.")
    return classes[kind](source)
