"""The outreach resources: the campaigns folder and the error-rate sensor's limits (read from
the environment; see sensors.py)."""

import dagster as dg

from pipelines.defs.outreach.assets import CampaignsResource
from pipelines.defs.outreach.sensors import OutreachErrorLimits


@dg.definitions
def outreach_resources() -> dg.Definitions:
    return dg.Definitions(resources={
        "campaigns": CampaignsResource(),
        "outreach_error_limits": OutreachErrorLimits.from_environment(),
    })
