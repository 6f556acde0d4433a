"""Which MLflow tracking URI a run uses, and whether it is a file only this machine can see.

Order: the recipe's `tracking.uri`, else $MLFLOW_TRACKING_URI, else MLflow 3's own default
`sqlite:///mlflow.db` in the working directory (its file store is deprecated). Relative local
paths are made absolute here, on the driver: Ray Train workers run in another working
directory, and every process of a run must write to the same database.
"""

from __future__ import annotations

import os
import socket
import stat
from urllib.parse import urlparse

from runner.specs.errors import SpecError
from runner.specs.schemas import TRACKING_SCHEMES

DEFAULT_URI = "sqlite:///mlflow.db"
_LOCAL_SCHEMES = ("", "file", "sqlite")
KNOWN_SCHEMES = TRACKING_SCHEMES
CONNECT_TIMEOUT_S = 5.0  # an unreachable tracking server is reported after this long, not after MLflow's retries
_SQLITE_HEADER = b"SQLite format 3\x00"


def resolve_uri(configured: str | None = None, cwd: str | None = None) -> str:
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    return absolute(uri, cwd)


def absolute(uri: str, cwd: str | None = None) -> str:
    """The same URI with a relative sqlite/file path resolved against `cwd` (default: os.getcwd())."""
    base = cwd or os.getcwd()
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///"):]
        if path and path != ":memory:" and not path.startswith("/"):
            return "sqlite:///" + os.path.normpath(os.path.join(base, path))
        return uri
    parsed = urlparse(uri)
    if parsed.scheme == "":  # a bare path: MLflow's (deprecated) file store
        return os.path.normpath(os.path.join(base, uri))
    return uri


def is_local(uri: str) -> bool:
    """True for a sqlite database or file store: only processes on this machine can write it."""
    return urlparse(uri).scheme in _LOCAL_SCHEMES


def display(uri: str) -> str:
    """The URI without credentials, for messages and plans."""
    parsed = urlparse(uri)
    if parsed.password:
        return uri.replace(f":{parsed.password}@", ":***@")
    return uri


def check(uri: str, create: bool) -> None:
    """Refuse, with a message that says what to do, a URI that cannot work, before MLflow is asked.

    An unknown scheme, a sqlite path that is not a SQLite database, a file-store path that is a
    file, or a server that does not accept a connection within CONNECT_TIMEOUT_S. With
    `create=False` (read-only commands such as `runner runs`) a missing database is an error,
    not something to create.
    """
    parsed = urlparse(uri)
    scheme = parsed.scheme.split("+")[0]
    if scheme not in KNOWN_SCHEMES:
        raise SpecError(f"unknown tracking URI scheme '{parsed.scheme}' in {display(uri)}; expected sqlite:///PATH, "
                        "http(s)://HOST:PORT, a database URI (postgresql://, mysql://) or a folder path",
                        field="tracking.uri")
    if scheme == "sqlite":
        path = uri[len("sqlite:///"):] if uri.startswith("sqlite:///") else parsed.path
        if path and path != ":memory:":
            _check_sqlite_file(path, uri, create)
    elif scheme in ("", "file"):
        path = parsed.path if scheme == "file" else uri
        if os.path.exists(path) and not os.path.isdir(path):
            raise SpecError(f"{path} is a file, not an MLflow file-store folder; use sqlite:///{path} if it is a "
                            "database", field="tracking.uri")
        if not create and not os.path.isdir(path):
            raise SpecError(f"no MLflow store at {path}: nothing has been tracked there (check --tracking-uri or "
                            "MLFLOW_TRACKING_URI)", field="tracking.uri")
    elif scheme in ("http", "https"):
        _check_reachable(parsed, uri)


def _check_sqlite_file(path: str, uri: str, create: bool) -> None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if not create:
            raise SpecError(f"no MLflow database at {path}: nothing has been tracked there (check --tracking-uri or "
                            "MLFLOW_TRACKING_URI); this command only reads, so it does not create one",
                            field="tracking.uri") from None
        if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise SpecError(f"the folder of the MLflow database {path} does not exist; create it or choose another "
                            "tracking URI", field="tracking.uri") from None
        return
    except OSError as exc:
        raise SpecError(f"cannot use the MLflow database {path}: {exc.strerror or exc}", field="tracking.uri") from None
    if not stat.S_ISREG(info.st_mode):
        raise SpecError(f"{path} is not a regular file, so not an MLflow database", field="tracking.uri")
    if info.st_size == 0:
        return  # SQLite treats an empty file as an empty database
    try:
        with open(path, "rb") as f:
            header = f.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise SpecError(f"cannot read the MLflow database {path}: {exc.strerror or exc}", field="tracking.uri") from None
    if header != _SQLITE_HEADER:
        raise SpecError(f"{path} is not a SQLite database (its first bytes are not 'SQLite format 3'); point the "
                        "tracking URI at an MLflow database or a new file", field="tracking.uri")


def _check_reachable(parsed, uri: str) -> None:
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:
        raise SpecError(f"bad port in the tracking URI {display(uri)}", field="tracking.uri") from None
    if not parsed.hostname:
        raise SpecError(f"no host in the tracking URI {display(uri)}; expected http://HOST:PORT", field="tracking.uri")
    try:
        with socket.create_connection((parsed.hostname, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        why = "no answer" if isinstance(exc, (socket.timeout, TimeoutError)) else (exc.strerror or str(exc))
        raise SpecError(f"cannot reach the MLflow tracking server {display(uri)} ({why}; waited at most "
                        f"{CONNECT_TIMEOUT_S:g} s); is it running, and is the address right?",
                        field="tracking.uri") from None
