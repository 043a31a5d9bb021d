"""A number as a paper prints it, and derive's exact count rounded the same way.

Papers print ``13M``, ``607.8M``, ``≈ 19.8 × 10^3`` or ``142,667,776``. :func:`read`
finds the unit and the digits kept; :func:`round_like` rounds an exact count to them (half
up, in integers: no float is ever made), so a table can say whether the paper's number is
reproduced, and how it was rounded.
"""

from __future__ import annotations

import re

from derive.errors import ConfigError
from derive.records import record

UNITS = {"": 0, "k": 3, "K": 3, "M": 6, "B": 9, "G": 9}
_PRINTED = re.compile(
    r"\s*(?P<approx>[≈~]\s*)?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?"
    r"\s*(?:(?:[×x*]\s*10\s*\^\s*\{?(?P<exp>\d+)\}?)|(?P<unit>[kKMBG]))?\s*")


@record
class Printed:
    text: str
    value: int  # the printed number, scaled by 10^decimals: 607.8M -> 6078
    decimals: int  # digits after the point: 1
    exponent: int  # the unit: 6 for M, 3 for × 10^3
    exact: bool  # printed in full (142,667,776): nothing rounded

    @property
    def unit(self) -> str:
        return {0: "", 3: "k", 6: "M", 9: "B"}.get(self.exponent, f"×10^{self.exponent}")

    @property
    def rounding(self) -> str:
        """In words: 'to millions', 'to 0.1 millions', 'exact'."""
        if self.exact:
            return "exact"
        names = {0: "units", 3: "thousands", 6: "millions", 9: "billions"}
        unit = names.get(self.exponent, f"10^{self.exponent}")
        return f"to {unit}" if not self.decimals else \
            f"to {'0.' + '0' * (self.decimals - 1) + '1'} {unit}"


def read(text: str) -> Printed:
    m = _PRINTED.fullmatch(text)
    if not m:
        raise ConfigError(f"cannot read the printed value '{text}' (derive reads 13M, 607.8M, "
                          "≈ 19.8 × 10^3, 142,667,776)")
    frac = m["frac"] or ""
    exponent = int(m["exp"]) if m["exp"] else UNITS[m["unit"] or ""]
    exact = exponent == 0 and not frac and not m["approx"]
    return Printed(text, int(m["int"].replace(",", "") + frac), len(frac), exponent, exact)


def round_like(total: int, printed: Printed) -> int:
    """``total`` rounded half up to the printed precision, scaled as ``printed.value``."""
    shift = printed.exponent - printed.decimals
    if shift <= 0:
        return total * 10**-shift
    q, r = divmod(total, 10**shift)
    return q + (1 if 2 * r >= 10**shift else 0)


def show(value: int, printed: Printed) -> str:
    """A rounded value written as the paper writes it (``13M``, ``607.8M``, ``142,667,776``)."""
    digits = str(value).rjust(printed.decimals + 1, "0")
    whole = digits[: len(digits) - printed.decimals] if printed.decimals else digits
    frac = digits[len(digits) - printed.decimals:] if printed.decimals else ""
    if printed.exact or "," in printed.text:
        whole = f"{int(whole):,}"
    number = whole + (f".{frac}" if frac else "")
    if "10" in printed.text and "^" in printed.text:
        return f"≈ {number} × 10^{printed.exponent}"
    return number + printed.unit
