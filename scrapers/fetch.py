"""Fetching a configured file location: a local path is used as is; an http(s) URL is
downloaded once into a cache folder; a `.zip` archive is unpacked to the one CSV inside it.

DOR publishes rolls as zip files of one CSV each; counties publish distress lists as CSV
exports. Downloads are written to a temporary name and renamed, so a broken download never
looks like a finished file.
"""

from __future__ import annotations

import shutil
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

USER_AGENT = "wholesaler/0.1 (+https://github.com/wholesaler; county data pipeline)"


class LocationError(Exception):
    """A configured location that cannot be turned into a readable local file."""


def local_file(location: str, cache_dir: Path, *, timeout_seconds: float = 120.0) -> Path:
    """A readable local CSV for `location` (a path or URL, possibly a .zip)."""
    if location.startswith(("http://", "https://")):
        path = _download(location, cache_dir, timeout_seconds)
    else:
        path = Path(location)
        if not path.is_file():
            raise LocationError(f"{location}: file not found")
    if path.suffix.lower() == ".zip":
        return _unzip_single_csv(path, cache_dir)
    return path


def _download(url: str, cache_dir: Path, timeout_seconds: float) -> Path:
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise LocationError(f"{url}: only http(s) URLs are downloaded")
    name = Path(urllib.parse.urlparse(url).path).name or "download"
    target = cache_dir / name
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with (urllib.request.urlopen(request, timeout=timeout_seconds) as response,  # nosec B310  # http(s) only, checked above
              partial.open("wb") as out):
            shutil.copyfileobj(response, out)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise LocationError(f"{url}: download failed: {error}") from error
    partial.replace(target)
    return target


def _unzip_single_csv(archive: Path, cache_dir: Path) -> Path:
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = [m for m in bundle.infolist()
                       if not m.is_dir() and m.filename.lower().endswith((".csv", ".txt"))]
            if len(members) != 1:
                raise LocationError(
                    f"{archive}: expected exactly one .csv/.txt inside, found "
                    f"{[m.filename for m in members]}"
                )
            target = cache_dir / archive.stem / Path(members[0].filename).name
            if target.is_file() and target.stat().st_mtime >= archive.stat().st_mtime:
                return target
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            with bundle.open(members[0]) as source, partial.open("wb") as out:
                shutil.copyfileobj(source, out)
            partial.replace(target)
            return target
    except zipfile.BadZipFile as error:
        raise LocationError(f"{archive}: not a readable zip archive: {error}") from error
