"""The datagen cache: fingerprints, content hashes, and folders that appear whole or not at all.

A problem's encoded data lives in `data_dir/<problem name>-<fingerprint[:12]>/`. The
fingerprint is the sha256 of the spec's data-relevant canonical JSON plus the content hash of
every source file, so editing either regenerates, and nothing else does. A folder is built
under a temporary name and renamed into place only when complete, so a crash, an error or a
Ctrl-C never leaves a half-written cache that a later run would trust.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.specs.problem_base import PROBLEM_NOTES

log = logging.getLogger(__name__)

# Bump when the on-disk layout or the encoding code changes meaning, so old caches are not reused.
CACHE_FORMAT = 1
META_FILE = "meta.json"
_FILES_KEY = "files"  # meta.json's manifest: relative path -> size in bytes

# Files up to this size are always hashed in full (a few ms); bigger ones reuse a hash recorded
# with their (size, mtime, inode) in data_dir/.source-hashes.json, as git's index does.
_ALWAYS_HASH_BYTES = 64 << 20
_HASH_CACHE_FILE = ".source-hashes.json"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_hashes(paths: list[Path], data_dir: Path) -> dict[str, str]:
    """sha256 of each file's bytes, keyed by file name (so moving a folder keeps its fingerprint)."""
    memo_path = Path(data_dir) / _HASH_CACHE_FILE
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    changed = False
    hashes = {}
    for path in paths:
        st = path.stat()
        key = str(path.resolve())
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        if st.st_size > _ALWAYS_HASH_BYTES and memo.get(key, {}).get("stamp") == stamp:
            digest = memo[key]["sha256"]
        else:
            digest = _sha256_file(path)
            if st.st_size > _ALWAYS_HASH_BYTES:
                memo[key] = {"stamp": stamp, "sha256": digest}
                changed = True
        hashes[path.name] = digest
    if changed:
        _write_json_atomic(memo_path, memo)
    return hashes


def fingerprint(spec_data: dict[str, Any], source_hashes: dict[str, str] | None = None) -> str:
    # Notes about the problem (its T2T provenance) change no data.
    spec_data = {k: v for k, v in spec_data.items() if k not in PROBLEM_NOTES}
    payload = {"format": CACHE_FORMAT, "spec": spec_data, "sources": source_hashes or {}}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Located:
    """Where a problem's data comes from and which cache folder this spec uses (nothing generated yet).

    Each family's `locate(spec, data_dir)` makes it and its `build` uses it, so `runner run
    --dry-run` reports the same source and cache folder that datagen will use.
    """

    plan: Any  # the family's source plan (kind, description, files, reader)
    kind: str  # "local", "hub", "generated", "sklearn", "fsdd"
    description: str  # the folder, "hub:<dataset>", ...
    spec_data: dict[str, Any]
    fingerprint: str
    folder: Path

    @property
    def cached(self) -> bool:
        return is_complete(self.folder)


def cache_folder(data_dir: Path, problem_name: str, fp: str) -> Path:
    return Path(data_dir) / f"{problem_name or 'problem'}-{fp[:12]}"


def is_complete(folder: Path) -> bool:
    """meta.json is written last inside the temporary folder, and the folder is renamed whole; a
    folder damaged later (a file deleted or truncated, meta.json cut short) is not complete."""
    return damage(folder) is None and (folder / META_FILE).is_file()


def damage(folder: Path) -> str | None:
    """What is wrong with an existing cache folder ('' never), or None when it looks whole (or is absent)."""
    if not folder.exists():
        return None
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"{META_FILE} is missing"
    except (OSError, ValueError) as exc:
        return f"{META_FILE} cannot be read ({exc})"
    if not isinstance(meta, dict):
        return f"{META_FILE} is not a JSON object"
    for name, size in (meta.get(_FILES_KEY) or {}).items():  # folders written before the manifest have none
        try:
            actual = (folder / name).stat().st_size
        except OSError:
            return f"{name} is missing"
        if actual != size:
            return f"{name} has {actual} bytes, not the {size} it was written with"
    return None


def read_meta(folder: Path) -> dict[str, Any]:
    return json.loads((folder / META_FILE).read_text())


def ensure(folder: Path, generate: Callable[[], None]) -> None:
    """Run `generate` unless `folder` is complete; one process at a time per folder.

    A damaged folder (see `damage`) is moved aside and rebuilt, with a warning naming it, rather
    than failing every later run."""
    if is_complete(folder):
        return
    with generation_lock(folder):
        remove_abandoned_temporaries(folder.parent, held=folder.name)
        if is_complete(folder):  # another worker may have finished while we waited
            return
        problem = damage(folder)
        if problem is not None or folder.exists():
            log.warning("datagen: the cache folder %s is damaged (%s); rebuilding it", folder,
                        problem or "incomplete")
            aside = folder.with_name(f".{folder.name}{_DAMAGED_MARK}{os.getpid()}")
            os.rename(folder, aside)
            shutil.rmtree(aside, ignore_errors=True)
        generate()


# Folders that exist only while their final folder's generation lock is held:
_TMP_MARK = ".tmp-"          # atomic_folder's temporary folders: .<final name>.tmp-<random>
_DAMAGED_MARK = ".damaged-"  # a damaged cache moved aside before its removal: .<final name>.damaged-<pid>


def remove_abandoned_temporaries(data_dir: Path, held: str | None = None) -> list[Path]:
    """Delete temporary datagen folders whose process is gone (killed mid-datagen: SIGKILL, power loss).

    A temporary folder is filled only while its final folder's generation lock is held, so one
    whose lock is free now belongs to nobody. `held` names the final folder whose lock the caller
    holds (its temporaries are all abandoned). Returns what was removed.
    """
    removed = []
    candidates = [(p, mark) for mark in (_TMP_MARK, _DAMAGED_MARK) for p in Path(data_dir).glob(f".*{mark}*")]
    for tmp, mark in candidates:
        final_name = tmp.name[1:].rsplit(mark, 1)[0]
        if not tmp.is_dir() or not final_name:
            continue
        if final_name == held:
            free = True
        else:
            with _lock_if_free(Path(data_dir) / f".{final_name}.lock") as free:
                pass  # only a question: is anyone generating it now?
        if free:
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    if removed:
        log.info("datagen: removed %d abandoned temporary folder(s) in %s", len(removed), data_dir)
    return removed


@contextlib.contextmanager
def _lock_if_free(lock_path: Path) -> Iterator[bool]:
    """True when nobody holds the lock (it is taken and released at once)."""
    with open(lock_path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def generation_lock(final: Path) -> Iterator[None]:
    """Serialize datagen of one cache folder across processes (several workers on one machine)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    lock_path = final.parent / f".{final.name}.lock"
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def atomic_folder(final: Path, meta: dict[str, Any]) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success write meta.json and rename it to `final`.

    On any exception the temporary folder is removed and `final` is untouched. The caller may
    add keys to `meta` while filling the folder.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        # A manifest of every file's size, so a folder damaged later is noticed and rebuilt.
        meta[_FILES_KEY] = {str(p.relative_to(tmp)): p.stat().st_size for p in sorted(tmp.rglob("*")) if p.is_file()}
        _write_json_atomic(tmp / META_FILE, meta)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; other users/workers must read the cache
        try:
            os.rename(tmp, final)
        except OSError:
            if not is_complete(final):
                raise
            # Another process finished the same fingerprint first; its data is identical.
            log.info("datagen: %s was written concurrently; keeping that copy", final)
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_json_atomic(path: Path, value: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False))
    os.replace(tmp, path)
