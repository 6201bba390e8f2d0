"""The runs' `console` logger: JSON lines on stderr with phones, emails and owner names
redacted (pipelines/logging_setup.py). It replaces Dagster's coloured console logger for every
job of this code location and takes the same config (`log_level`, `name`)."""

import logging

import dagster as dg

from pipelines.logging_setup import redacting_handler


@dg.logger(
    config_schema={
        "log_level": dg.Field(str, is_required=False, default_value="INFO",
                              description="The logger's threshold."),
        "name": dg.Field(str, is_required=False, default_value="dagster",
                         description="The logger's name in each line."),
    },
    description="JSON lines on stderr with phones, emails and owner names redacted.",
)
def redacted_json_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    """Dagster logger: each run gets its own `logging.Logger` (not registered globally, so
    in-process runs never stack handlers) with the redacting JSON handler."""
    config = init_context.logger_config
    run_logger = logging.Logger(config["name"], level=config["log_level"].upper())
    run_logger.addHandler(redacting_handler())
    return run_logger



@dg.definitions
def run_loggers() -> dg.Definitions:
    return dg.Definitions(loggers={"console": redacted_json_logger})
