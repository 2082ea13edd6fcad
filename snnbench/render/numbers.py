"""How every table writes a number: one formatter per kind of figure, used by all renderers."""

from __future__ import annotations


def number(value, digits: int = 3) -> str:
    """A measured value (an error, a ratio): "-" for none, plain digits in the usual range, an
    exponent outside it; integers with thousands separators."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        return f"{value:.{digits - 1}e}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.{digits}g}"
    return str(value)


def _in_units(value: float | None, units, last: tuple[str, float], space: str = " ") -> str:
    """``value`` in the first of ``units`` ((name, scale), largest first) it reaches, else in
    ``last``; three significant digits."""
    if value is None:
        return "-"
    for unit, scale in units:
        if value >= scale:
            return f"{value / scale:.3g}{space}{unit}"
    return f"{value / last[1]:.3g}{space}{last[0]}".rstrip()


def seconds(value: float | None) -> str:
    return _in_units(value, (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)), ("ns", 1e-9))

def rate(value: float | None) -> str:
    return _in_units(value, (("G", 1e9), ("M", 1e6), ("k", 1e3)), ("", 1.0), space="")

def size(value: float | None) -> str:
    """Bytes in the largest binary unit they fill: '20.2 MiB', '1020 KiB', '512 B'."""
    if value is None:
        return "-"
    for unit, scale in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if abs(value) >= scale:
            return f"{_digits(value / scale)} {unit}"
    return f"{int(value)} B"

def _digits(value: float) -> str:
    """Three significant digits, without an exponent (1020, not 1.02e+03)."""
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"

def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"

def impl_label(name: str) -> str:
    """A short name for a table: a user's MODULE:CLASS shows as CLASS."""
    return name.rpartition(":")[2] or name
