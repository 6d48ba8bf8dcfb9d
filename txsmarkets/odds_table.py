"""The 9.3 client's table of traditional fractional odds, as `odds` uses it.

`TABLE` holds each traditional fraction (``3 to 1``) at the percent it stands for;
`txsmarkets.odds.Odds.fractional` looks the nearest one up. The names are re-exported by
`txsmarkets.odds`, where 9.3 code finds them.
"""

from __future__ import annotations

import bisect
import functools
from decimal import Decimal
from typing import Iterator, Mapping

__all__ = ["OddsTable", "OddsTableEntry", "TABLE"]


@functools.total_ordering
class OddsTableEntry:
    """One traditional fraction of the fractional odds table, at the percent it stands for.

    Entries are ordered, and compared, by percent; an entry also compares with a bare
    percent, so that a sorted list of entries can be bisected by percent.
    """

    __slots__ = ("numerator", "denominator", "percent")

    def __init__(self, numerator: int, denominator: int, percent: Decimal) -> None:
        """The fraction ``numerator`` to ``denominator``, standing for ``percent``."""
        self.numerator = numerator
        self.denominator = denominator
        self.percent = percent

    @staticmethod
    def _percent_of(other: object) -> object:
        return other.percent if isinstance(other, OddsTableEntry) else other

    def __lt__(self, other: object) -> bool:
        other_percent = self._percent_of(other)
        if not isinstance(other_percent, (Decimal, int)):
            return NotImplemented
        return self.percent < other_percent

    def __eq__(self, other: object) -> bool:
        other_percent = self._percent_of(other)
        if not isinstance(other_percent, (Decimal, int)):
            return NotImplemented
        return self.percent == other_percent

    def __hash__(self) -> int:
        return hash(self.percent)

    def __repr__(self) -> str:
        return f"OddsTableEntry({self.numerator}, {self.denominator}, {self.percent!r})"

    @classmethod
    def from_raw(
        cls, nfrom: int, nto: int, nhigh: Decimal, nlow: Decimal
    ) -> Iterator[OddsTableEntry]:
        """The two entries of a table row: ``nfrom/nto`` at ``nhigh``, ``nto/nfrom`` at ``nlow``."""
        yield cls(nfrom, nto, nhigh)
        yield cls(nto, nfrom, nlow)


class OddsTable:
    """The traditional fractional odds, sorted by percent, to look a percent up in."""

    __slots__ = ("_table",)

    def __init__(self, raw_table: Mapping[tuple[int, int], tuple[Decimal, Decimal]]) -> None:
        """A table of the rows ``{(numerator, denominator): (percent_high, percent_low)}``."""
        self._table: list[OddsTableEntry] = []
        for (numerator, denominator), (high, low) in raw_table.items():
            self.append(numerator, denominator, high, low)

    def append(self, nfrom: int, nto: int, nhigh: Decimal, nlow: Decimal) -> None:
        """Add a row's two entries (see `OddsTableEntry.from_raw`), keeping the table sorted.

        An entry goes after those of equal percent already there.
        """
        for entry in OddsTableEntry.from_raw(nfrom, nto, nhigh, nlow):
            bisect.insort_right(self._table, entry)

    def from_percent(self, percent: Decimal) -> OddsTableEntry:
        """The entry of the smallest percent that is at least ``percent``.

        Past the end of the table, the last entry. TypeError unless ``percent`` is a Decimal.
        """
        if not isinstance(percent, Decimal):
            raise TypeError(f"a percent must be a Decimal, not {type(percent).__name__}")
        index = bisect.bisect_left(self._table, percent)
        return self._table[min(index, len(self._table) - 1)]

    def __len__(self) -> int:
        return len(self._table)

    def __iter__(self) -> Iterator[OddsTableEntry]:
        return iter(self._table)


# The 9.3 client's table of traditional fractions: (numerator, denominator, percent of
# numerator/denominator, percent of the reversed fraction).
_RAW_ROWS: tuple[tuple[int, int, str, str], ...] = (
    (1, 1, "50.00", "50.00"),
    (20, 21, "51.22", "48.78"),
    (10, 11, "52.38", "47.62"),
    (5, 6, "54.55", "45.45"),
    (4, 5, "55.56", "44.44"),
    (8, 11, "57.89", "42.11"),
    (4, 6, "60.00", "40.00"),
    (8, 13, "61.90", "38.10"),
    (60, 100, "62.50", "37.50"),
    (4, 7, "63.64", "36.36"),
    (8, 15, "65.22", "34.78"),
    (1, 2, "66.67", "33.33"),
    (40, 85, "68.00", "32.00"),
    (4, 9, "69.23", "30.77"),
    (40, 95, "70.37", "29.63"),
    (2, 5, "71.43", "28.57"),
    (4, 11, "73.33", "26.67"),
    (1, 3, "75.00", "25.00"),
    (30, 100, "76.92", "23.08"),
    (2, 7, "77.78", "22.22"),
    (20, 75, "78.95", "21.05"),
    (1, 4, "80.00", "20.00"),
    (20, 85, "80.95", "19.05"),
    (2, 9, "81.82", "18.18"),
    (20, 95, "82.61", "17.39"),
    (1, 5, "83.33", "16.67"),
    (2, 11, "84.62", "15.38"),
    (1, 6, "85.71", "14.29"),
    (2, 13, "86.67", "13.33"),
    (15, 100, "86.96", "13.04"),
    (1, 7, "87.50", "12.50"),
    (2, 15, "88.24", "11.76"),
    (1, 8, "88.89", "11.11"),
    (2, 17, "89.47", "10.53"),
    (1, 9, "90.00", "10.00"),
    (10, 95, "90.48", "9.52"),
    (1, 10, "90.91", "9.09"),
    (1, 11, "91.67", "8.33"),
    (17, 200, "92.17", "7.83"),
    (1, 12, "92.31", "7.69"),
    (8, 100, "92.59", "7.41"),
    (1, 13, "92.86", "7.14"),
    (15, 200, "93.02", "6.98"),
    (1, 14, "93.33", "6.67"),
    (1, 15, "93.75", "6.25"),
    (1, 16, "94.12", "5.88"),
    (1, 17, "94.44", "5.56"),
    (1, 18, "94.74", "5.26"),
    (1, 19, "95.00", "5.00"),
    (1, 20, "95.24", "4.76"),
    (1, 21, "95.45", "4.55"),
    (1, 22, "95.65", "4.35"),
    (1, 23, "95.83", "4.17"),
    (1, 24, "96.00", "4.00"),
    (1, 25, "96.15", "3.85"),
    (1, 26, "96.30", "3.70"),
    (1, 27, "96.43", "3.57"),
    (1, 28, "96.55", "3.45"),
    (1, 29, "96.67", "3.33"),
    (1, 30, "96.77", "3.23"),
    (1, 31, "96.88", "3.13"),
    (1, 32, "96.97", "3.03"),
    (1, 33, "97.06", "2.94"),
    (3, 100, "97.09", "2.91"),
    (1, 34, "97.14", "2.86"),
    (1, 35, "97.22", "2.78"),
    (1, 36, "97.30", "2.70"),
    (1, 37, "97.37", "2.63"),
    (1, 38, "97.44", "2.56"),
    (1, 39, "97.50", "2.50"),
    (1, 40, "97.56", "2.44"),
    (1, 41, "97.62", "2.38"),
    (1, 42, "97.67", "2.33"),
    (1, 43, "97.73", "2.27"),
    (1, 44, "97.78", "2.22"),
    (1, 45, "97.83", "2.17"),
    (1, 46, "97.87", "2.13"),
    (1, 47, "97.92", "2.08"),
    (1, 48, "97.96", "2.04"),
    (1, 49, "98.00", "2.00"),
    (1, 50, "98.04", "1.96"),
    (1, 51, "98.08", "1.92"),
    (1, 52, "98.11", "1.89"),
    (1, 53, "98.15", "1.85"),
    (1, 54, "98.18", "1.82"),
    (1, 55, "98.21", "1.79"),
    (1, 56, "98.25", "1.75"),
    (1, 57, "98.28", "1.72"),
    (1, 58, "98.31", "1.69"),
    (1, 59, "98.33", "1.67"),
    (1, 60, "98.36", "1.64"),
    (1, 61, "98.39", "1.61"),
    (1, 62, "98.41", "1.59"),
    (1, 63, "98.44", "1.56"),
    (1, 64, "98.46", "1.54"),
    (1, 65, "98.48", "1.52"),
    (1, 66, "98.51", "1.49"),
    (3, 200, "98.52", "1.48"),
    (1, 67, "98.53", "1.47"),
    (1, 68, "98.55", "1.45"),
    (1, 69, "98.57", "1.43"),
    (1, 70, "98.59", "1.41"),
    (1, 71, "98.61", "1.39"),
    (1, 72, "98.63", "1.37"),
    (1, 73, "98.65", "1.35"),
    (1, 74, "98.67", "1.33"),
    (1, 75, "98.68", "1.32"),
    (1, 76, "98.70", "1.30"),
    (1, 77, "98.72", "1.28"),
    (1, 78, "98.73", "1.27"),
    (1, 79, "98.75", "1.25"),
    (1, 80, "98.77", "1.23"),
    (1, 81, "98.78", "1.22"),
    (1, 82, "98.80", "1.20"),
    (1, 83, "98.81", "1.19"),
    (1, 84, "98.82", "1.18"),
    (1, 85, "98.84", "1.16"),
    (1, 86, "98.85", "1.15"),
    (1, 87, "98.86", "1.14"),
    (1, 88, "98.88", "1.12"),
    (1, 89, "98.89", "1.11"),
    (1, 90, "98.90", "1.10"),
    (1, 91, "98.91", "1.09"),
    (1, 92, "98.92", "1.08"),
    (1, 93, "98.94", "1.06"),
    (1, 94, "98.95", "1.05"),
    (1, 95, "98.96", "1.04"),
    (1, 96, "98.97", "1.03"),
    (1, 97, "98.98", "1.02"),
    (1, 98, "98.99", "1.01"),
    (1, 99, "99.00", "1.00"),
    (1, 100, "99.01", "0.99"),
    (1, 200, "99.50", "0.50"),
    (1, 300, "99.67", "0.33"),
    (1, 400, "99.75", "0.25"),
    (1, 500, "99.80", "0.20"),
    (1, 600, "99.83", "0.17"),
    (1, 700, "99.86", "0.14"),
    (1, 800, "99.88", "0.12"),
    (1, 900, "99.89", "0.11"),
    (1, 1000, "99.90", "0.10"),
    (1, 2000, "99.95", "0.05"),
    (1, 3000, "99.97", "0.03"),
    (1, 5000, "99.98", "0.02"),
    (1, 10000, "99.99", "0.01"),
)

_RAW_TABLE: dict[tuple[int, int], tuple[Decimal, Decimal]] = {
    (numerator, denominator): (Decimal(high), Decimal(low))
    for numerator, denominator, high, low in _RAW_ROWS
}

#: The traditional fractional odds of the 9.3 client: 290 entries, 1/10000 ... 10000/1.
TABLE = OddsTable(_RAW_TABLE)
