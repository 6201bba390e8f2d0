"""A fictional FTC do-not-call registry download for the sample markets.

One file per area code (`national_<area code>.txt`, ten digits per line, as the FTC delivers
its full list), listing a deterministic share of that area code's fictional numbers
(NPA-555-0100..0199), so the demo's scrub finds numbers on the registry and numbers that are
clear; and a fictional Florida state list (`florida.txt`, `305,5550123` lines). The demo loads
these files with today's date as the download date (fresh copies).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from contacts.sample import AREA_CODES

REGISTERED_SHARE = 0.2


def area_codes_for(county_numbers: Iterable[int]) -> list[str]:
    codes: set[str] = set()
    for county_number in county_numbers:
        codes.update(AREA_CODES.get(county_number, AREA_CODES[58]))
    return sorted(codes)


def write_sample_registry(out_dir: Path, county_numbers: Iterable[int],
                          seed: int = 42) -> list[Path]:
    """Write one registry file per area code of the counties; same seed, same bytes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for area_code in area_codes_for(county_numbers):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(area_code),)))
        numbers = [f"{area_code}55501{last_two:02d}" for last_two in range(100)
                   if rng.random() < REGISTERED_SHARE]
        path = out_dir / f"national_{area_code}.txt"
        path.write_text("".join(f"{number}\n" for number in numbers))
        written.append(path)
    return written


FLORIDA_SHARE = 0.05


def write_sample_florida_list(out_dir: Path, county_numbers: Iterable[int],
                              seed: int = 42) -> Path:
    """A fictional Florida do-not-call list over the counties' area codes (area code and
    number comma-separated, the other line format the loaders accept)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for area_code in area_codes_for(county_numbers):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(area_code), 1)))
        lines.extend(f"{area_code},55501{last_two:02d}\n" for last_two in range(100)
                     if rng.random() < FLORIDA_SHARE)
    path = out_dir / "florida.txt"
    path.write_text("".join(lines))
    return path
