"""The code location's resources (see pipelines/resources.py)."""


import dagster as dg

from pipelines.resources import default_resources


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=default_resources())
