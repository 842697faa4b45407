"""Files that must survive crashes and hostile content: atomic, fsynced writes of
``.npz`` archives, removal of stale temporary files, a lock on an output folder,
and reading an ``.npz`` member by member with its size, dtype and shape checked
before any of it is decompressed."""
from __future__ import annotations

import glob
import json
import os
import tempfile
import time
import zipfile

import numpy as np

#: Prefix and suffix of the temporary files of :func:`atomic_savez`.
TMP_PREFIX, TMP_SUFFIX = ".numbadn-", ".tmp"
#: A temporary file whose writer cannot be told from its name is stale after this long.
TMP_STALE_SECONDS = 3600.0
LOCK_NAME = ".numbadn.lock"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_tmp(folder):
    """Remove ``.numbadn-*.tmp`` files in ``folder`` left by writers that died.

    The name carries the writer's process id (``.numbadn-PID-XXXX.tmp``); files of
    a live process are kept, and files without one only once older than
    :data:`TMP_STALE_SECONDS`.  Returns the paths removed.
    """
    removed = []
    for path in glob.glob(os.path.join(glob.escape(os.fspath(folder)),
                                       TMP_PREFIX + "*" + TMP_SUFFIX)):
        stem = os.path.basename(path)[len(TMP_PREFIX):-len(TMP_SUFFIX)]
        pid = stem.split("-", 1)[0]
        try:
            if pid.isdigit() and "-" in stem:
                stale = int(pid) != os.getpid() and not _pid_alive(int(pid))
            else:
                stale = time.time() - os.path.getmtime(path) > TMP_STALE_SECONDS
            if stale:
                os.unlink(path)
                removed.append(path)
        except OSError:
            continue
    return removed


def current_umask():
    """The process umask, read without changing it where Linux allows
    (``/proc/self/status``); elsewhere set and restored at once."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def atomic_savez(path, header, arrs):
    """Write ``arrs`` and the JSON ``header`` (member ``__header__``) to ``path``:
    a temporary file in the same folder, flushed to disk (``fsync``), then renamed
    over ``path`` and the folder synced, so ``path`` is always either the old file
    or the whole new one, even after a kill or a power loss.  Stale temporary
    files of dead writers in the folder are removed first."""
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    remove_stale_tmp(d)
    fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", suffix=TMP_SUFFIX, dir=d)
    try:
        # mkstemp makes the file 0600; give it what open() would: 0666 less the umask
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, __header__=np.array(json.dumps(header)), **arrs)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(d)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _fsync_dir(d):
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems without directory fsync
        pass
    finally:
        os.close(fd)


class FolderLock:
    """An exclusive lock on a folder (``flock`` on ``FOLDER/.numbadn.lock``), held
    until :meth:`release` or the process ends (the kernel drops it even after a
    kill).  A second holder gets a ``RuntimeError`` naming the folder and the
    process that holds it."""

    def __init__(self, folder, what="--out"):
        self.folder = os.fspath(folder)
        os.makedirs(self.folder, exist_ok=True)
        self.path = os.path.join(self.folder, LOCK_NAME)
        self.fh = open(self.path, "a+")
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return
        try:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.seek(0)
            holder = self.fh.read().strip() or "another process"
            self.fh.close()
            raise RuntimeError(
                f"{what} {self.folder} is in use by another 'numbadn train' ({holder}); "
                f"wait for it to finish or choose another {what}") from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"pid {os.getpid()}")
        self.fh.flush()

    def release(self):
        if not self.fh.closed:
            self.fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


# ---------------------------------------------------------------- reading
class MemberError(ValueError):
    """A member of an archive is not what it must be (``member`` names it)."""

    def __init__(self, member, msg):
        super().__init__(msg)
        self.member = member


def open_members(path):
    """``(zipfile.ZipFile, {member name: ZipInfo})`` of an ``.npz`` file; member
    names without ``.npy``.  Nothing is decompressed."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise MemberError(None, f"not an .npz archive ({exc})") from None
    infos = {}
    for info in zf.infolist():
        name = info.filename
        if not name.endswith(".npy"):
            zf.close()
            raise MemberError(name, "is not an array (.npy) member")
        key = name[:-4]
        if key in infos:
            zf.close()
            raise MemberError(key, "appears twice")
        infos[key] = info
    return zf, infos


def read_member(zf, info, key, dtypes, shape, max_bytes):
    """One array member, checked before its data are decompressed.

    ``dtypes``: accepted dtypes; ``shape``: the exact shape (``None`` entries
    match any length); ``max_bytes``: bound on its uncompressed size.
    """
    if info.file_size > max_bytes:
        raise MemberError(key, f"holds {info.file_size:,} bytes uncompressed, more than "
                               f"the {max_bytes:,} its declared shape allows")
    try:
        with zf.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shp, fortran, dt = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shp, fortran, dt = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy version {version}")
            if dtypes == "U":
                if dt.kind != "U":
                    raise MemberError(key, f"has dtype {dt}, expected a unicode string")
            elif dt.hasobject or dt not in [np.dtype(d) for d in dtypes]:
                want = " or ".join(str(np.dtype(d)) for d in dtypes)
                raise MemberError(key, f"has dtype {dt}, expected {want}")
            if len(shp) != len(shape) or any(w is not None and s != w
                                             for s, w in zip(shp, shape)):
                want = "(" + ", ".join("any" if w is None else str(w) for w in shape) + ")"
                raise MemberError(key, f"has shape {tuple(shp)}, expected {want}")
            n = int(np.prod(shp, dtype=np.int64)) * dt.itemsize
            if n > max_bytes:
                raise MemberError(key, f"of shape {tuple(shp)} needs {n:,} bytes, more than "
                                       f"{max_bytes:,}")
            data = fh.read(n + 1)
    except MemberError:
        raise
    except Exception as exc:  # noqa: BLE001 - corrupt data of any kind
        raise MemberError(key, f"cannot be read ({type(exc).__name__}: {exc})") from None
    if len(data) != n:
        raise MemberError(key, f"holds {len(data)} bytes of data, expected {n}")
    arr = np.frombuffer(data, dtype=dt).reshape(shp, order="F" if fortran else "C")
    arr = arr.copy(order="C")  # writeable, C order, 0-d stays 0-d
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise MemberError(key, "contains NaN or inf values")
    return arr
