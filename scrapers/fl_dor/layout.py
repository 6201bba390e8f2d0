"""Florida DOR tax-roll file layouts: the NAL and SDF column lists and the type of each column.

The column lists ship inside the package (copied from the DOR's 2026 layout, the same as
../shared/reference) so a user's clone works without the shared folder. Types are the one
place that says how a raw roll column is coerced when it lands in the warehouse: every column
not named here stays text, which keeps codes such as DOR_UC "001" and ZIP codes intact.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_HERE = Path(__file__).parent

NAL_ENCODING = "latin-1"


@cache
def nal_columns() -> tuple[str, ...]:
    """The 165 NAL column names, in file order."""
    return _read_columns(_HERE / "nal_columns.txt")


@cache
def sdf_columns() -> tuple[str, ...]:
    """The 23 SDF column names, in file order."""
    return _read_columns(_HERE / "sdf_columns.txt")


def _read_columns(path: Path) -> tuple[str, ...]:
    return tuple(line.strip() for line in path.read_text().splitlines() if line.strip())


_NAL_INTEGER = {
    "CO_NO",
    "ASMNT_YR",
    "DISTR_YR",
    "EFF_YR_BLT",
    "ACT_YR_BLT",
    "TOT_LVG_AREA",
    "NO_BULDNG",
    "NO_RES_UNTS",
    "SALE_YR1",
    "SALE_MO1",
    "SALE_YR2",
    "SALE_MO2",
    "YR_VAL_TRNSF",
    "SPC_CIR_YR",
}
_NAL_BIGINT_PREFIXES = ("JV", "AV_", "TV_", "EXMPT_")
_NAL_BIGINT = {
    "NCONST_VAL",
    "DEL_VAL",
    "LND_VAL",
    "LND_SQFOOT",
    "SPEC_FEAT_VAL",
    "SALE_PRC1",
    "SALE_PRC2",
    "ASS_DIF_TRNS",
    "SEQ_NO",
}
_NAL_TEXT_DESPITE_PREFIX = {"JV_CHNG_CD"}
_NAL_DOUBLE = {"NO_LND_UNTS"}

_SDF_TYPES = {"CO_NO": "INTEGER", "ASMNT_YR": "INTEGER", "SALE_YR": "INTEGER", "SALE_MO": "INTEGER",
              "SALE_PRC": "BIGINT"}


def _nal_type(column: str) -> str:
    if column in _NAL_INTEGER:
        return "INTEGER"
    if column in _NAL_DOUBLE:
        return "DOUBLE"
    if column in _NAL_BIGINT or (
        column.startswith(_NAL_BIGINT_PREFIXES) and column not in _NAL_TEXT_DESPITE_PREFIX
    ):
        return "BIGINT"
    return "VARCHAR"


@cache
def nal_types() -> dict[str, str]:
    """DuckDB type of every NAL column, in file order."""
    return {column: _nal_type(column) for column in nal_columns()}


@cache
def sdf_types() -> dict[str, str]:
    """DuckDB type of every SDF column, in file order."""
    return {column: _SDF_TYPES.get(column, "VARCHAR") for column in sdf_columns()}
