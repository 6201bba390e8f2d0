"""The raw tables the warehouse ingests, with the row rules each file must pass.

One place that says what a good roll or distress row is; the Dagster assets only pick the spec
and the file.
"""

from __future__ import annotations

from pipelines.ingest import RowRule, TableSpec
from scrapers.distress_layout import DISTRESS_LAYOUTS
from scrapers.fl_dor.layout import NAL_ENCODING, nal_types, sdf_types

_PARCEL_ID_REQUIRED = RowRule(
    bad_when="parcel_id IS NULL OR trim(parcel_id) = ''",
    reason="'PARCEL_ID is empty'",
)


def _county_number_rule(county_number: int, market_code: str) -> RowRule:
    # DOR file names have numbered counties differently from CO_NO: trust the CO_NO column.
    return RowRule(
        bad_when=f"co_no IS DISTINCT FROM {int(county_number)}",
        reason=(f"'CO_NO ' || coalesce(CAST(co_no AS VARCHAR), 'empty') || ' is not market "
                f"{market_code} (CO_NO {int(county_number)})'"),
    )


def nal_spec(county_number: int, market_code: str, encoding: str = NAL_ENCODING) -> TableSpec:
    """NAL parcels: one row per parcel, parcel id unique, the market's county number."""
    return TableSpec(
        table="nal_parcels",
        columns=nal_types(),
        encoding=encoding,
        unique_key="parcel_id",
        rules=(_PARCEL_ID_REQUIRED, _county_number_rule(county_number, market_code)),
    )


def sdf_spec(county_number: int, market_code: str, encoding: str = NAL_ENCODING) -> TableSpec:
    """SDF sales: one row per sale, with a valid month and a non-negative price."""
    return TableSpec(
        table="sdf_sales",
        columns=sdf_types(),
        encoding=encoding,
        rules=(
            _PARCEL_ID_REQUIRED,
            _county_number_rule(county_number, market_code),
            RowRule("sale_mo IS NULL OR sale_mo NOT BETWEEN 1 AND 12",
                    "'SALE_MO ' || coalesce(CAST(sale_mo AS VARCHAR), 'empty') "
                    "|| ' is not a month'"),
            RowRule("sale_yr IS NULL OR sale_yr NOT BETWEEN 1900 AND 2100",
                    "'SALE_YR ' || coalesce(CAST(sale_yr AS VARCHAR), 'empty') "
                    "|| ' is not a year'"),
            RowRule("sale_prc < 0", "'SALE_PRC is negative'"),
        ),
    )


def distress_spec(kind: str, field_map: dict[str, str] | None = None) -> TableSpec:
    """A distress list (code violations, lis pendens, tax-deed applications); `field_map`
    names the file's header for each of our columns where they differ."""
    return TableSpec(
        table=kind,
        columns=DISTRESS_LAYOUTS[kind],
        encoding="utf-8",
        rules=(_PARCEL_ID_REQUIRED,),
        source_names=dict(field_map or {}),
    )
