"""A real IMAP server on loopback for the replies tests: `pymap` (PyPI, the dev extra) with
its in-memory `dict` backend, one user with a known password, plain IMAP (no TLS) on a free
port, run as a child process and stopped afterwards.

`running_imap_server()` yields an `ImapServer` (host, port, user, password) with helpers that
talk to it through `imaplib` like any mail client would: `append` (IMAP APPEND of raw bytes,
with an INTERNALDATE), `create` / `delete` folders (a deleted and re-created folder gets a new
UIDVALIDITY) and `flags`. The tests skip, saying why, when pymap is not installed.
"""

from __future__ import annotations

import imaplib
import importlib.util
import subprocess  # nosec B404 - starts the test's own IMAP server, fixed argv, no shell
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from smtp_mailbox import free_port

PYMAP_MAIN = "import sys; from pymap.main import main; sys.argv[0] = 'pymap'; sys.exit(main())"


def pymap_available() -> bool:
    return importlib.util.find_spec("pymap") is not None


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int
    user: str
    password: str

    @contextmanager
    def client(self) -> Iterator[imaplib.IMAP4]:
        connection = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            connection.login(self.user, self.password)
            yield connection
        finally:
            connection.logout()

    def append(self, folder: str, raw: bytes, when: datetime | None = None) -> int:
        """APPEND one message; returns its UID (from APPENDUID)."""
        stamp = imaplib.Time2Internaldate((when or datetime.now(UTC)).timestamp())
        with self.client() as connection:
            status, data = connection.append(folder, None, stamp, raw)
            assert status == "OK", data
            text = data[0].decode() if data and isinstance(data[0], bytes) else ""
        # "[APPENDUID <uidvalidity> <uid>] APPEND completed."
        return int(text.split("]")[0].split()[-1]) if "APPENDUID" in text else 0

    def create(self, folder: str) -> None:
        with self.client() as connection:
            status, data = connection.create(folder)
            assert status == "OK", data

    def delete(self, folder: str) -> None:
        with self.client() as connection:
            status, data = connection.delete(folder)
            assert status == "OK", data

    def uid_validity(self, folder: str) -> int:
        with self.client() as connection:
            status, data = connection.status(folder, "(UIDVALIDITY)")
            assert status == "OK", data
            return int(data[0].decode().split("UIDVALIDITY")[1].strip(" ()"))

    def flags(self, folder: str) -> dict[int, str]:
        """UID -> the FLAGS text of each message in the folder."""
        with self.client() as connection:
            connection.select(folder, readonly=True)
            status, data = connection.uid("FETCH", "1:*", "(UID FLAGS)")
            assert status == "OK", data
        found: dict[int, str] = {}
        for item in data:
            if isinstance(item, bytes) and b"UID" in item:
                text = item.decode()
                uid = int(text.split("UID ")[1].split()[0].strip(")"))
                found[uid] = text.split("FLAGS")[1] if "FLAGS" in text else ""
        return found


@contextmanager
def running_imap_server(user: str = "replies@sunshineporch.example",
                        password: str = "imap-test-password") -> Iterator[ImapServer]:
    """Start pymap (dict backend) on a free loopback port; yields the server."""
    port = free_port()
    argv = [sys.executable, "-c", PYMAP_MAIN, "--host", "127.0.0.1", "--port", str(port),
            "--no-tls", "dict", "--demo-user", user, "--demo-password", password]
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(argv, stdout=log,  # nosec B603 - fixed argv
                               stderr=subprocess.STDOUT)
    server = ImapServer("127.0.0.1", port, user, password)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                log.seek(0)
                output = log.read().decode(errors="replace")
                raise RuntimeError(f"pymap exited with {process.returncode}: {output[-2000:]}")
            try:
                with server.client():
                    break
            except (OSError, imaplib.IMAP4.error):
                if time.monotonic() > deadline:
                    raise RuntimeError("pymap did not start listening within 30 s") from None
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
