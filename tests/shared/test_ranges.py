"""Range header parsing for file downloads."""

import pytest

from shared.ranges import ByteRange, UnsatisfiableRange, parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", ByteRange(0, 0)),
        ("bytes=0-99", ByteRange(0, 99)),
        ("bytes=10-", ByteRange(10, 99)),
        ("bytes=90-1000", ByteRange(90, 99)),  # the end is clipped to the file
        ("bytes=-10", ByteRange(90, 99)),  # suffix: the last 10 bytes
        ("bytes=-100", ByteRange(0, 99)),
        ("bytes=-5000", ByteRange(0, 99)),  # a suffix longer than the file is the whole file
        ("Bytes = 5-6", ByteRange(5, 6)),
    ],
)
def test_satisfiable(header, expected):
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize(
    "header",
    [None, "", "items=0-1", "bytes=5-2", "bytes=a-b", "bytes=-", "bytes=0-1,5-6", "bytes", "0-1"],
)
def test_ignored_headers_mean_the_whole_file(header):
    assert parse_range(header, 100) is None


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=-0"])
def test_unsatisfiable(header):
    with pytest.raises(UnsatisfiableRange) as error:
        parse_range(header, 100)
    assert error.value.content_range == "bytes */100"


def test_content_range_and_length():
    byte_range = ByteRange(90, 99)
    assert byte_range.length == 10
    assert byte_range.content_range(100) == "bytes 90-99/100"
