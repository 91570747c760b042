"""Downloads with resume and checksums, safe archive extraction, and the `DOWNLOADS` catalog the CLI uses.

Other modules register their downloadables here (e.g. the -C/-P benchmarks from ``augmix_lab.corruptions``):
``DOWNLOADS.add("cifar10-c", Downloadable(...))``.
"""

from __future__ import annotations

import contextvars
import hashlib
import http.client
import os
import re
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from augmix_lab import __version__
from augmix_lab.errors import UserError
from augmix_lab.paths import cache_dir, read_cache_json, write_cache_json
from augmix_lab.registry import Registry

OFFLINE_ENV = "AUGMIX_LAB_OFFLINE"  # set to 1: every download fails at once with the manual-download hint
MIRROR_ENV = "AUGMIX_LAB_MIRROR"  # base URL that replaces each catalog file's URL (mirror + filename)

Progress = Callable[[int, "int | None"], None]


class DownloadError(UserError):
    """A download or verification failed (network, checksum, incomplete file); the CLI exits 1."""

    exit_code = 1


def file_digest(path: str | os.PathLike[str], algorithm: str) -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_mismatch(path: Path, *, md5: str | None = None, sha256: str | None = None) -> str | None:
    """None if ``path`` matches every given checksum, else 'expected <algo> X, got Y'.

    Inside ``cached_checksums()`` a file verified before with the same size and modification time is not read
    again (``$AUGMIX_LAB_CACHE/checksums.json``): the pre-flight of every ``run`` stays fast on 170 MB archives.
    """
    for algorithm, expected in (("sha256", sha256), ("md5", md5)):
        if expected:
            if _CACHED.get() and _verified_before(path, algorithm, expected):
                continue
            got = file_digest(path, algorithm)
            if got.lower() != expected.lower():
                return f"expected {algorithm} {expected}, got {got}"
            if _CACHED.get():
                _remember(path, algorithm, got)
    return None


_CACHED: contextvars.ContextVar[bool] = contextvars.ContextVar("augmix_lab_cached_checksums", default=False)
CHECKSUM_CACHE_FILE = "checksums.json"


@contextmanager
def cached_checksums() -> Iterator[None]:
    """Checksums inside the block trust an earlier full check of a file with the same size and mtime."""
    token = _CACHED.set(True)
    try:
        yield
    finally:
        _CACHED.reset(token)


def _checksum_cache() -> Path:
    return cache_dir() / CHECKSUM_CACHE_FILE


def _signature(path: Path) -> list[int]:
    st = Path(path).stat()
    return [st.st_size, st.st_mtime_ns]


def _read_checksums() -> dict:
    return read_cache_json(_checksum_cache())  # absent or damaged: check in full


def _verified_before(path: Path, algorithm: str, expected: str) -> bool:
    entry = _read_checksums().get(str(Path(path).resolve()))
    return (
        isinstance(entry, dict)
        and entry.get("signature") == _signature(path)
        and str(entry.get(algorithm, "")).lower() == expected.lower()
    )


def _remember(path: Path, algorithm: str, digest: str) -> None:
    """Record a verified digest (atomic write; a read-only cache folder only costs the next full check)."""
    cache = _checksum_cache()
    data = _read_checksums()
    key = str(Path(path).resolve())
    old = data.get(key)
    entry = old if isinstance(old, dict) and old.get("signature") == _signature(path) else {}
    data[key] = {**entry, "signature": _signature(path), algorithm: digest}
    write_cache_json(cache, data)


def verify_file(path: str | os.PathLike[str], *, md5: str | None = None, sha256: str | None = None) -> Path:
    """Raise `DownloadError` naming ``path`` if it is missing or its checksum differs; return the path."""
    path = Path(path)
    if not path.is_file():
        raise DownloadError(f"{path} is missing")
    problem = checksum_mismatch(path, md5=md5, sha256=sha256)
    if problem:
        raise DownloadError(f"checksum mismatch for {path}: {problem}")
    return path


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _content_range_start(value: str | None) -> int | None:
    match = re.match(r"bytes (\d+)-", value or "")
    return int(match.group(1)) if match else None


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    *,
    md5: str | None = None,
    sha256: str | None = None,
    resume: bool = True,
    expected_size: int | None = None,
    timeout: float = 60.0,
    progress: Progress | None = None,
) -> Path:
    """Download ``url`` to ``dest`` via ``dest.part`` (resumed with an HTTP Range request), verify, rename atomically.

    An existing ``dest`` whose checksum matches is kept without touching the network. Network failures keep
    the partial file for a later resume; a checksum mismatch deletes it (resuming a corrupt prefix cannot
    help). Failures raise `DownloadError` naming the URL or file and how to get it by hand.
    """
    dest = Path(dest)
    if dest.is_file() and (md5 or sha256) and checksum_mismatch(dest, md5=md5, sha256=sha256) is None:
        return dest
    manual = f"download it manually to {dest}"
    if _offline():
        raise DownloadError(f"could not download {url}: offline mode ({OFFLINE_ENV} is set); {manual}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if part.exists() and (not resume or (expected_size is not None and part.stat().st_size > expected_size)):
        part.unlink()
    have = part.stat().st_size if part.exists() else 0
    if expected_size is None or have < expected_size:
        _fetch_into(url, part, have, timeout, progress, manual)
    size = part.stat().st_size
    if expected_size is not None and size != expected_size:
        if size > expected_size:
            part.unlink()
        raise DownloadError(
            f"incomplete download of {url}: got {size} of {expected_size} bytes in {part}; rerun to resume or {manual}"
        )
    problem = checksum_mismatch(part, md5=md5, sha256=sha256)
    if problem:
        part.unlink()
        raise DownloadError(f"checksum mismatch for {dest} from {url}: {problem}; the partial file was deleted, rerun")
    os.replace(part, dest)
    return dest


def _fetch_into(url: str, part: Path, have: int, timeout: float, progress: Progress | None, manual: str) -> None:
    headers = {"User-Agent": f"augmix-lab/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
            if have and (response.status != 206 or _content_range_start(response.headers.get("Content-Range")) != have):
                have = 0  # the server ignored or misread the range: start over
            length = response.headers.get("Content-Length")
            total = have + int(length) if length and length.isdigit() else None
            with open(part, "ab" if have else "wb") as out:
                done = have
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
            if total is not None and done < total:  # urllib returns b"" when the server hangs up early
                raise DownloadError(
                    f"could not download {url}: connection closed after {done} of {total} bytes "
                    f"(kept {part.name} to resume); rerun or {manual}"
                )
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            return  # range not satisfiable: the partial file is already whole; the checksum decides
        raise DownloadError(f"could not download {url}: HTTP {exc.code} {exc.reason}; {manual}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(f"could not download {url}: {reason}; {manual}") from None


def extract_archive(archive: str | os.PathLike[str], dest_dir: str | os.PathLike[str]) -> Path:
    """Extract a .tar/.tar.gz/.tgz/.zip into ``dest_dir``, refusing members that would land outside it."""
    archive, dest_dir = Path(archive), Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    root = dest_dir.resolve()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                _check_inside(root, member, archive)
            zf.extractall(root)
        return dest_dir
    try:
        with tarfile.open(archive) as tf:
            if hasattr(tarfile, "data_filter"):
                tf.extractall(root, filter="data")  # rejects absolute paths, '..', device files, outside links
            else:  # pragma: no cover - Python without PEP 706 filters
                for info in tf.getmembers():
                    _check_inside(root, info.name, archive)
                    if not (info.isfile() or info.isdir()):
                        raise DownloadError(f"refusing to extract {archive}: member {info.name!r} is not a plain file")
                tf.extractall(root)
    except (tarfile.TarError, OSError) as exc:
        raise DownloadError(f"could not extract {archive}: {exc}") from None
    return dest_dir


def _check_inside(root: Path, member: str, archive: Path) -> None:
    if not (root / member).resolve().is_relative_to(root):
        raise DownloadError(f"refusing to extract {archive}: member {member!r} points outside {root}")


@dataclass(frozen=True)
class RemoteFile:
    """One file of a downloadable: where it comes from and how to check it."""

    url: str
    filename: str
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class Downloadable:
    """Something ``augmix-lab data download NAME`` can fetch into the data root.

    ``verify(root)`` returns a list of problems (empty when everything is present and intact); by default
    it checks each file's checksum, or, once extracted and the archive is gone, that ``extract_dir`` exists.
    """

    name: str
    files: tuple[RemoteFile, ...]
    description: str = ""
    extract: bool = False
    extract_dir: str | None = None  # folder (relative to the data root) that the archives create
    verify: Callable[[Path], list[str]] | None = None
    notes: dict[str, str] = field(default_factory=dict)

    def problems(self, root: Path) -> list[str]:
        if self.verify is not None:
            return self.verify(Path(root))
        return default_problems(self, Path(root))

    def present(self, root: Path) -> bool:
        root = Path(root)
        return all((root / f.filename).is_file() for f in self.files) or bool(
            self.extract_dir and (root / self.extract_dir).is_dir()
        )


def default_problems(spec: Downloadable, root: Path) -> list[str]:
    extracted = bool(spec.extract_dir and (root / spec.extract_dir).is_dir())
    problems = []
    for remote in spec.files:
        path = root / remote.filename
        if not path.is_file():
            if not extracted:
                problems.append(f"{path} is missing")
            continue
        mismatch = checksum_mismatch(path, md5=remote.md5, sha256=remote.sha256)
        if mismatch:
            problems.append(f"checksum mismatch for {path}: {mismatch}")
    return problems


DOWNLOADS: Registry[Downloadable] = Registry("downloadable")


def resolve_url(remote: RemoteFile) -> str:
    """The catalog URL, or ``$AUGMIX_LAB_MIRROR/<filename>`` when a mirror is set."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    return f"{mirror.rstrip('/')}/{remote.filename}" if mirror else remote.url


def fetch(name: str, root: str | os.PathLike[str], *, progress: Progress | None = None) -> list[str]:
    """Download (and extract) downloadable ``name`` into ``root`` unless it is already intact; return what was done."""
    spec = DOWNLOADS.get(name)
    root = Path(root)
    if spec.present(root) and not spec.problems(root):
        return [f"{name} already present and verified in {root}"]
    done = []
    for remote in spec.files:
        path = download_file(
            resolve_url(remote),
            root / remote.filename,
            md5=remote.md5,
            sha256=remote.sha256,
            expected_size=remote.size,
            progress=progress,
        )
        done.append(f"downloaded {path}")
        if spec.extract:
            extract_archive(path, root)
            done.append(f"extracted {path.name} into {root}")
    problems = spec.problems(root)
    if problems:
        raise DownloadError(f"{name} failed verification after download: {problems[0]}")
    return done
