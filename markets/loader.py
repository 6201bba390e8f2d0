"""Market loader: reads `markets/*.yaml`, validates each against the schema, and reports every
problem as (file, field, reason) so an operator can fix a broken file without guessing.

Malformed YAML, duplicate keys inside a file, unknown keys, missing required fields, unknown
time zones and a market code used by two files are all errors.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from markets.schema import Market

DEFAULT_MARKETS_DIR = Path(__file__).resolve().parent


def markets_dir() -> Path:
    """The folder of market YAMLs: `WHOLESALER_MARKETS_DIR`, else this package's folder."""
    configured = os.environ.get("WHOLESALER_MARKETS_DIR")
    return Path(configured) if configured else DEFAULT_MARKETS_DIR


@dataclass(frozen=True)
class MarketProblem:
    """One reason a market file is not usable."""

    file: Path
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"


class MarketConfigError(Exception):
    """Raised when one or more market files are invalid; carries every problem found."""

    def __init__(self, problems: Sequence[MarketProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key repeated in one mapping (PyYAML keeps the last)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"found duplicate key {key!r}", key_node.start_mark,
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def load_yaml_strict(text: str) -> Any:
    """Parse YAML safely (a SafeLoader subclass: no object construction), refusing a key
    repeated within one mapping instead of silently keeping the last value."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # nosec B506  # a SafeLoader subclass


def _field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def _parse_market(path: Path) -> tuple[Market | None, list[MarketProblem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        return None, [MarketProblem(path, "(file)", f"cannot read: {error.strerror or error}")]
    try:
        document = load_yaml_strict(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problem = getattr(error, "problem", None) or str(error)
        return None, [MarketProblem(path, where, f"malformed YAML: {problem}")]
    if not isinstance(document, dict):
        return None, [MarketProblem(path, "(top level)", "expected a mapping of market settings")]
    try:
        market = Market.model_validate(document)
    except ValidationError as error:
        problems = [
            MarketProblem(path, _field_path(tuple(item["loc"])), _reason(item))
            for item in error.errors()
        ]
        return None, problems
    market._source_file = path.resolve()
    return market, []


def _reason(item: Any) -> str:
    if item["type"] == "extra_forbidden":
        return "unknown key (check its spelling against markets/schema.py)"
    if item["type"] == "missing":
        return "required field is missing"
    message = str(item["msg"])
    return message.removeprefix("Value error, ")


def validate_files(paths: Iterable[Path]) -> tuple[list[Market], list[MarketProblem]]:
    """Validate market files; returns the good markets and every problem, including a market
    code that appears in more than one file."""
    markets: list[Market] = []
    problems: list[MarketProblem] = []
    first_file_of_code: dict[str, Path] = {}
    for path in sorted(Path(p) for p in paths):
        market, file_problems = _parse_market(path)
        problems.extend(file_problems)
        if market is None:
            continue
        if market.code in first_file_of_code:
            problems.append(MarketProblem(
                path, "code",
                f"duplicate market code {market.code!r}, already used by "
                f"{first_file_of_code[market.code]}",
            ))
            continue
        first_file_of_code[market.code] = path
        markets.append(market)
    return markets, problems


def market_files(directory: Path | None = None) -> list[Path]:
    """The market YAML files of a folder, sorted."""
    folder = directory or markets_dir()
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def load_markets(directory: Path | None = None) -> list[Market]:
    """Every market of the folder, sorted by code; raises MarketConfigError on any problem."""
    markets, problems = validate_files(market_files(directory))
    if problems:
        raise MarketConfigError(problems)
    return sorted(markets, key=lambda market: market.code)


def load_market(code: str, directory: Path | None = None) -> Market:
    """One market by code."""
    for market in load_markets(directory):
        if market.code == code:
            return market
    raise KeyError(f"no market with code {code!r} in {directory or markets_dir()}")
