"""What every sample pipeline does the same way: find, read, check and replace.

Input files live under settings.SPINE_DATA_DIR, read at call time so a test can
point it elsewhere. Rows are checked before anything is written, and a bad value
stops the pipeline with an InputDataError naming the file and the line. Writes
replace one partition inside a transaction, and `DatasetLoad` keeps the input's
fingerprint so an unchanged input is skipped unless the caller forces it.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Model
from django.utils import timezone

from domains.models import DatasetLoad
from pipeline_groups.exceptions import InputDataError, MissingInputError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
# The largest value a BigIntegerField holds on every supported database.
_BIGINT_MAX = 2**63 - 1


def data_path(*parts: str) -> Path:
    """Return a path under the configured data directory."""
    return Path(settings.SPINE_DATA_DIR).joinpath(*parts)


def as_flag(value: Any, name: str = "force") -> bool:
    """Read a yes/no parameter that may arrive as a bool or as command-line text."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"Parameter {name} must be true or false, not {value!r}")


def as_date(value: Any, name: str) -> dt.date:
    """Read a date parameter given as a date or as YYYY-MM-DD text."""
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(
            f"Parameter {name} must be a date as YYYY-MM-DD, not {value!r}"
        ) from None


def as_positive_int(value: Any, name: str, maximum: int | None = None) -> int:
    """Read a whole-number parameter of at least 1 (and at most `maximum`)."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(
            f"Parameter {name} must be a whole number, not {value!r}"
        ) from None
    if number < 1:
        raise ValueError(f"Parameter {name} must be at least 1, not {number}")
    if maximum is not None and number > maximum:
        raise ValueError(f"Parameter {name} must be at most {maximum}, not {number}")
    return number


def fingerprint(*parts: str | bytes) -> str:
    """Digest the given parts; equal inputs give equal fingerprints."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def require_file(path: Path, hint: str = "") -> bytes:
    """Return a file's bytes, or fail with a message that names the file."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MissingInputError(f"Input file {path}", hint) from None


def read_rows(
    path: Path,
    content: bytes,
    header: Sequence[str],
    delimiter: str,
    *,
    quoted: bool = True,
    optional: Sequence[str] = (),
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) for each data line, after checking the header.

    Blank lines are ignored; a line with the wrong number of fields is an error.
    `quoted=False` reads quote characters as text, as pipe-delimited files need.
    `optional` names trailing columns of `header` that a file may leave out
    (all of them together); the rows of such a file do not have those keys.
    """
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputDataError(path, None, f"not UTF-8 text ({error.reason})") from None

    quoting = csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE
    reader = csv.reader(
        text.splitlines(), delimiter=delimiter, quoting=quoting, strict=quoted
    )
    try:
        found = next(reader)
    except StopIteration:
        raise InputDataError(path, 1, "the file is empty; expected a header") from None
    header = _header_of(path, found, header, delimiter, optional)

    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise InputDataError(path, reader.line_num, str(error)) from None
        line = reader.line_num
        if not any(field.strip() for field in fields):
            continue
        if len(fields) != len(header):
            raise InputDataError(
                path, line, f"expected {len(header)} fields, found {len(fields)}"
            )
        yield line, dict(zip(header, (field.strip() for field in fields), strict=True))


def _header_of(
    path: Path,
    found: Sequence[str],
    header: Sequence[str],
    delimiter: str,
    optional: Sequence[str],
) -> list[str]:
    """Return the columns a file's header line declares, if it is an allowed one."""
    names = [name.strip() for name in found]
    full = list(header)
    short = full[: len(full) - len(optional)]
    if names == full or (optional and names == short):
        return names
    allowed = repr(delimiter.join(full))
    if optional:
        allowed += f" (or without {delimiter.join(optional)!r})"
    raise InputDataError(
        path, 1, f"expected the header {allowed}, found {delimiter.join(found)!r}"
    )


def parse_fields(
    path: Path,
    line: int,
    row: Mapping[str, str],
    parsers: Mapping[str, Callable[[str], Any]],
) -> dict[str, Any]:
    """Convert each named field with its parser, naming the field that fails."""
    values = {}
    for name, parse in parsers.items():
        try:
            values[name] = parse(row[name])
        except (ValueError, ArithmeticError) as error:
            raise InputDataError(
                path, line, f"{name} {row[name]!r} is not valid: {error}"
            ) from None
    return values


def non_negative_int(text: str) -> int:
    """Parse a count or quantity that fits a BigIntegerField."""
    value = int(text.replace(",", ""))
    if value < 0:
        raise ValueError("must not be negative")
    if value > _BIGINT_MAX:
        raise ValueError(f"must be at most {_BIGINT_MAX}")
    return value


def iso_date(text: str) -> dt.date:
    """Parse a YYYY-MM-DD date."""
    return dt.date.fromisoformat(text)


def required_text(text: str) -> str:
    """Keep a field that must not be empty."""
    if not text:
        raise ValueError("must not be empty")
    return text


def text_for(model: type[Model], field: str) -> Callable[[str], str]:
    """Return a parser of text that fits a model's character field."""
    return text_up_to(model._meta.get_field(field).max_length)


def text_up_to(limit: int) -> Callable[[str], str]:
    """Return a parser of non-empty text of at most `limit` characters.

    A column's length is checked here, against its model field, so a long value
    names its line instead of failing the insert on PostgreSQL.
    """

    def parse(text: str) -> str:
        required_text(text)
        if len(text) > limit:
            raise ValueError(f"is {len(text)} characters long; at most {limit} fit")
        return text

    return parse


def current_load(dataset: str, partition: str, fingerprint_: str) -> DatasetLoad | None:
    """Return the partition's load record when it was built from this input."""
    return DatasetLoad.objects.filter(
        dataset=dataset, partition=partition, fingerprint=fingerprint_
    ).first()


def load_of(dataset: str, partition: str) -> DatasetLoad | None:
    """Return what was last loaded into a partition, whatever its input."""
    return DatasetLoad.objects.filter(dataset=dataset, partition=partition).first()


def record_load(
    dataset: str,
    partition: str,
    fingerprint_: str,
    *,
    source: str,
    rows_read: int,
    rows_written: int,
    execution_id: str,
) -> DatasetLoad:
    """Remember what a partition now holds; call inside the writing transaction."""
    load, _created = DatasetLoad.objects.update_or_create(
        dataset=dataset,
        partition=partition,
        defaults={
            "fingerprint": fingerprint_,
            "source": source,
            "rows_read": rows_read,
            "rows_written": rows_written,
            "execution_id": execution_id,
            "loaded_at": timezone.now(),
        },
    )
    return load


def skipped(load: DatasetLoad, **extra: Any) -> dict[str, Any]:
    """Build the result of a pipeline that found its output already up to date."""
    return {
        "skipped": True,
        "reason": (
            f"{load.dataset} {load.partition} is already loaded from the same input "
            f"(at {load.loaded_at:%Y-%m-%d %H:%M:%S} UTC); pass force=true to reload"
        ),
        "rows_read": 0,
        "rows_written": 0,
        **extra,
    }
