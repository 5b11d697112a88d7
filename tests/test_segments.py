"""SMS segment counting at the encodings' boundaries."""

from __future__ import annotations

import pytest

from bot.segments import count_segments


@pytest.mark.parametrize(
    ("body", "encoding", "segments"),
    [
        ("", "GSM-7", 0),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # extension characters take two septets
        ("€" * 81, "GSM-7", 2),
        ("^{}[]~|\\" * 10, "GSM-7", 1),
        ("中" * 70, "UCS-2", 1),
        ("中" * 71, "UCS-2", 2),
        ("中" * 134, "UCS-2", 2),
        ("中" * 135, "UCS-2", 3),
        ("a" * 159 + "中", "UCS-2", 3),  # one Chinese character turns all of it to UCS-2
        ("😀" * 35, "UCS-2", 1),  # outside the BMP: two UTF-16 units each
        ("😀" * 36, "UCS-2", 2),
        ("１", "UCS-2", 1),  # a full-width digit is not GSM-7
    ],
)
def test_segments(body, encoding, segments):
    counted = count_segments(body)
    assert (counted.encoding, counted.segments) == (encoding, segments)
