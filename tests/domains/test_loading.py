"""The shared reading and checking that every sample pipeline relies on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from domains import loading
from pipeline_groups.exceptions import InputDataError, MissingInputError

PATH = Path("/data/sample.csv")
HEADER = ("day", "count")


def rows(text: str, **options: object) -> list[tuple[int, dict[str, str]]]:
    return list(loading.read_rows(PATH, text.encode(), HEADER, ",", **options))


class TestReadRows:
    def test_numbers_lines_as_an_editor_does(self) -> None:
        text = "day,count\n2025-12-01,1\n\n2025-12-02, 2 \n"

        found = rows(text)

        assert found == [
            (2, {"day": "2025-12-01", "count": "1"}),
            (4, {"day": "2025-12-02", "count": "2"}),
        ]

    def test_wrong_field_count_names_file_and_line(self) -> None:
        text = "day,count\n2025-12-01,1\n2025-12-02,2,3\n"

        with pytest.raises(InputDataError) as raised:
            rows(text)

        assert str(raised.value) == (
            "/data/sample.csv, line 3: expected 2 fields, found 3"
        )
        assert (raised.value.path, raised.value.line) == ("/data/sample.csv", 3)

    def test_wrong_header_is_line_one(self) -> None:
        with pytest.raises(InputDataError) as raised:
            rows("date,count\n2025-12-01,1\n")

        assert str(raised.value) == (
            "/data/sample.csv, line 1: expected the header 'day,count', "
            "found 'date,count'"
        )

    def test_empty_file_says_a_header_is_expected(self) -> None:
        with pytest.raises(InputDataError, match="line 1: the file is empty"):
            rows("")

    def test_text_that_is_not_utf8_names_the_file(self) -> None:
        content = "day,count\n2025-12-01,é\n".encode("latin-1")

        with pytest.raises(InputDataError) as raised:
            list(loading.read_rows(PATH, content, HEADER, ","))

        assert raised.value.line is None
        assert str(raised.value).startswith("/data/sample.csv: not UTF-8 text")

    def test_byte_order_mark_is_not_part_of_the_header(self) -> None:
        content = "\ufeffday,count\n2025-12-01,1\n".encode()

        found = list(loading.read_rows(PATH, content, HEADER, ","))

        assert found == [(2, {"day": "2025-12-01", "count": "1"})]

    def test_optional_trailing_column_may_be_left_out(self) -> None:
        text = "day\n2025-12-01\n"

        found = rows(text, optional=("count",))

        assert found == [(2, {"day": "2025-12-01"})]

    def test_optional_column_does_not_excuse_other_headers(self) -> None:
        with pytest.raises(InputDataError) as raised:
            rows("count\n1\n", optional=("count",))

        assert str(raised.value) == (
            "/data/sample.csv, line 1: expected the header 'day,count' "
            "(or without 'count'), found 'count'"
        )

    def test_unquoted_reading_keeps_quotes_as_text(self) -> None:
        content = b'day|count\n"Big" day|1\n'

        found = list(loading.read_rows(PATH, content, HEADER, "|", quoted=False))

        assert found == [(2, {"day": '"Big" day', "count": "1"})]


class TestParseFields:
    def test_names_the_field_and_value_that_fail(self) -> None:
        parsers = {"day": loading.iso_date, "count": loading.non_negative_int}

        with pytest.raises(InputDataError) as raised:
            loading.parse_fields(PATH, 7, {"day": "2025-12-01", "count": "-4"}, parsers)

        assert str(raised.value) == (
            "/data/sample.csv, line 7: count '-4' is not valid: must not be negative"
        )

    def test_returns_every_field_converted(self) -> None:
        parsers = {"day": loading.iso_date, "count": loading.non_negative_int}

        values = loading.parse_fields(
            PATH, 2, {"day": "2025-12-01", "count": "1,200"}, parsers
        )

        assert values == {"day": dt.date(2025, 12, 1), "count": 1200}


class TestFieldParsers:
    def test_counts_above_a_big_integer_are_refused(self) -> None:
        with pytest.raises(ValueError, match="must be at most 9223372036854775807"):
            loading.non_negative_int("9223372036854775808")

    def test_largest_big_integer_is_kept(self) -> None:
        assert loading.non_negative_int("9223372036854775807") == 2**63 - 1

    def test_text_longer_than_its_column_is_refused(self) -> None:
        parse = loading.text_up_to(4)

        with pytest.raises(ValueError, match="is 5 characters long; at most 4 fit"):
            parse("ABCDE")

    def test_bounded_text_must_not_be_empty(self) -> None:
        with pytest.raises(ValueError, match="must not be empty"):
            loading.text_up_to(4)("")

    def test_dates_are_iso(self) -> None:
        with pytest.raises(ValueError):
            loading.iso_date("12/01/2025")


class TestParameters:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [(True, True), ("true", True), ("ON", True), ("0", False), ("no", False)],
    )
    def test_flags_read_command_line_text(self, value: object, expected: bool) -> None:
        assert loading.as_flag(value) is expected

    def test_unknown_flag_text_is_refused(self) -> None:
        with pytest.raises(ValueError) as raised:
            loading.as_flag("maybe")

        assert str(raised.value) == "Parameter force must be true or false, not 'maybe'"

    def test_dates_are_read_from_text(self) -> None:
        assert loading.as_date(" 2026-01-03 ", "week_ending") == dt.date(2026, 1, 3)

    def test_bad_date_names_the_parameter(self) -> None:
        with pytest.raises(ValueError) as raised:
            loading.as_date("last week", "week_ending")

        assert str(raised.value) == (
            "Parameter week_ending must be a date as YYYY-MM-DD, not 'last week'"
        )

    def test_whole_numbers_have_a_floor_and_a_ceiling(self) -> None:
        assert loading.as_positive_int("4", "weeks", 10) == 4
        with pytest.raises(ValueError, match="must be at least 1, not 0"):
            loading.as_positive_int(0, "weeks")
        with pytest.raises(ValueError, match="must be at most 10, not 11"):
            loading.as_positive_int(11, "weeks", 10)


class TestFiles:
    def test_missing_file_names_its_path_and_the_hint(self, tmp_path: Path) -> None:
        path = tmp_path / "nowhere.csv"

        with pytest.raises(MissingInputError) as raised:
            loading.require_file(path, "run the generator first")

        assert str(raised.value) == (
            f"Input file {path} not found; run the generator first"
        )

    def test_data_paths_follow_the_setting(self, settings: Any, tmp_path: Path) -> None:
        settings.SPINE_DATA_DIR = tmp_path

        assert loading.data_path("a", "b.csv") == tmp_path / "a" / "b.csv"


class TestFingerprint:
    def test_equal_inputs_give_equal_fingerprints(self) -> None:
        assert loading.fingerprint("a", b"b") == loading.fingerprint("a", "b")

    def test_parts_do_not_run_into_each_other(self) -> None:
        assert loading.fingerprint("ab", "c") != loading.fingerprint("a", "bc")
