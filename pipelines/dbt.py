"""The dbt project as Dagster sees it: the DbtProject (manifest parsed when missing or older
than the project's files), the CLI resource, and the translator that ties dbt sources to the
raw assets."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
)

from pipelines import settings


def dbt_executable() -> str:
    """The dbt installed beside this Python (the venv), so an unactivated venv works."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


dbt_project = DbtProject(
    project_dir=settings.DBT_PROJECT_DIR,
    profiles_dir=settings.DBT_PROJECT_DIR,
)


def _newest_source_mtime() -> float:
    project_dir = settings.DBT_PROJECT_DIR
    files = [project_dir / "dbt_project.yml", project_dir / "profiles.yml"]
    for folder in ("models", "macros", "tests", "seeds"):
        files.extend(path for path in (project_dir / folder).rglob("*") if path.is_file())
    return max((path.stat().st_mtime for path in files if path.exists()), default=0.0)


def ensure_manifest() -> None:
    """Parse the dbt project when its manifest is missing or older than any model, macro or
    config file (a fresh clone, CI, the demo after a pull)."""
    manifest = dbt_project.manifest_path
    if not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime():
        # The stock preparer runs `dbt` from PATH, which an unactivated venv, CI and `make`
        # do not have; parse with the venv's dbt instead.
        dbt_cli_resource().cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()


def dbt_cli_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(settings.DBT_PROJECT_DIR),
                          dbt_executable=dbt_executable())


# dbt models tagged `outreach` (the ledger's staging, intermediate and outreach marts) are built
# in one unpartitioned run after the ledger copy (pipelines/defs/analytics), never per market.
OUTREACH_TAG = "outreach"
COPIED_SOURCES = ("ledger", "config")


class WholesalerDbtTranslator(DagsterDbtTranslator):
    """dbt sources map to the raw ingest assets (`raw/<table>`); models keep their names and
    are grouped by their folder (staging, intermediate, marts). dbt tests on sources become
    asset checks of the raw assets."""

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            if dbt_resource_props.get("source_name") in COPIED_SOURCES:
                # the ledger copy and the market prices (pipelines/defs/analytics)
                return dg.AssetKey([dbt_resource_props["source_name"],
                                    dbt_resource_props["name"]])
            return dg.AssetKey(["raw", dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if OUTREACH_TAG in dbt_resource_props.get("tags", []):
            return "analytics"  # built after the ledger copy, not per market partition
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props["resource_type"] == "model" and len(fqn) > 2:
            return fqn[1]
        return super().get_group_name(dbt_resource_props)
