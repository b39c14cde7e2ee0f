"""CSV for people who open it in a spreadsheet: streamed line by line, formulas defused."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator


def csv_lines(rows: Iterable[list[str]]) -> Iterator[str]:
    """CSV text, line by line (for a streaming response); every cell through ``cell_safe``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([cell_safe(cell) for cell in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def cell_safe(cell: str) -> str:
    """Text a spreadsheet would run as a formula (=, +, -, @ first) is quoted with ' first;
    numbers (a leading minus) are left alone."""
    if cell and cell[0] in "=+-@\t\r" and not _is_number(cell):
        return "'" + cell
    return cell


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
