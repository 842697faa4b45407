"""Files that must survive crashes and hostile content: atomic, fsynced writes of
``.npz`` archives, removal of stale temporary files, a lock on an output folder,
and reading an ``.npz`` member by member with its size, dtype and shape checked
before any of it is decompressed."""
from __future__ import annotations

import errno as _errno
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


class FolderInUse(RuntimeError):
    """Another process holds the lock on an output folder (an expected condition)."""


class FolderLock:
    """An exclusive lock on a folder (``flock`` on ``FOLDER/.numbadn.lock``), held
    until :meth:`release` or the process ends (the kernel drops it even after a
    kill).  A second holder gets a :class:`FolderInUse` naming the folder and the
    process that holds it.  ``created`` says whether the folder was made here."""

    def __init__(self, folder, what="--out"):
        self.folder = os.fspath(folder)
        self.created = not os.path.isdir(self.folder)
        self.path = os.path.join(self.folder, LOCK_NAME)
        self.lock_created = not os.path.exists(self.path)
        try:
            os.makedirs(self.folder, exist_ok=True)
            self.fh = open(self.path, "a+")
        except OSError as exc:
            raise cannot_write(self.folder, exc) from None
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
            raise FolderInUse(
                f"{what} {shown(self.folder)} is in use by another 'numbadn train' ({holder}); "
                f"wait for it to finish or choose another {what}") from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"pid {os.getpid()}")
        self.fh.flush()

    def release(self):
        if not self.fh.closed:
            self.fh.close()

    def remove_if_unused(self):
        """Release, and remove the folder if it was created here and holds
        nothing but the lock (a run refused before it wrote anything)."""
        self.release()
        try:
            if self.lock_created:
                os.unlink(self.path)
            if self.created and not os.listdir(self.folder):
                os.rmdir(self.folder)
        except OSError:
            pass

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


# ---------------------------------------------------------------- special files
def _kind(mode):
    import stat
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path, what="file"):
    """A binary file object on ``path``, refused in one ``ValueError`` unless it
    is a regular file: a FIFO, a device (``/dev/zero``), a socket or a folder
    would block or never end.  Opened non-blocking and checked with ``fstat``,
    so nothing can swap the file in between."""
    import stat
    path = os.fspath(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {shown(path)} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"{what} {shown(path)} is a folder, not a file") from None
    except OSError as exc:
        raise ValueError(f"cannot read {what} {shown(path)}: {reason(exc)}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ValueError(f"{what} {shown(path)} is {_kind(mode)}, not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_regular(path, what="file"):
    """Raise the ``ValueError`` of :func:`open_regular` unless ``path`` is a regular
    file (``stat``, nothing opened)."""
    import stat
    path = os.fspath(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {shown(path)} does not exist") from None
    except OSError as exc:
        raise ValueError(f"cannot read {what} {shown(path)}: {reason(exc)}") from None
    if stat.S_ISDIR(mode):
        raise ValueError(f"{what} {shown(path)} is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise ValueError(f"{what} {shown(path)} is {_kind(mode)}, not a regular file")


def shown(path):
    """``path`` as text that can always be printed: bytes that are not UTF-8
    (kept in ``str`` paths as surrogate escapes) become U+FFFD."""
    p = os.fsdecode(path) if isinstance(path, bytes) else str(path)
    return p.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


# ---------------------------------------------------------------- operating-system errors

_ADVICE = {
    _errno.EACCES: ("permission denied", "choose a folder you can write to"),
    _errno.EPERM: ("operation not permitted", "choose a folder you can write to"),
    _errno.EROFS: ("the file system is read-only", "choose a folder on a writable disk"),
    _errno.ENOSPC: ("no space left on the device", "free some space or choose another disk"),
    _errno.EDQUOT: ("disk quota exceeded", "free some space or choose another disk"),
    _errno.ENAMETOOLONG: ("the name is too long", "choose a shorter name"),
    _errno.EEXIST: ("a file of that name is in the way", "choose another name"),
    _errno.ENOTDIR: ("a file is in the way where a folder is needed", "choose another path"),
    _errno.EISDIR: ("it is a folder", "name a file instead, or another path"),
    _errno.ENOENT: ("a folder on the path does not exist", "check the path"),
    _errno.ELOOP: ("too many symbolic links", "check the path"),
}


def reason(exc):
    """The reason of an ``OSError`` in words (no errno number, no repeated path)."""
    if exc.errno in _ADVICE:
        return _ADVICE[exc.errno][0]
    return (exc.strerror or str(exc) or type(exc).__name__).rstrip(".").lower()


class CannotWrite(ValueError):
    """An output path cannot be written: one line with the reason and what to do."""

    def __init__(self, path, why, todo):
        self.path = path
        super().__init__(f"cannot write {shown(path)}: {why}; {todo}")


def cannot_write(path, exc, todo=None):
    """:class:`CannotWrite` for an ``OSError`` met while writing ``path``."""
    why, default = _ADVICE.get(exc.errno, (reason(exc), "choose another path"))
    return CannotWrite(path, why, todo or default)


# ---------------------------------------------------------------- what numbadn wrote
#: Each output folder's record of the files numbadn wrote there (name -> command,
#: size, mtime): only those may be replaced by a later run without ``--force``.
OUTPUTS_NAME = ".numbadn-outputs.json"


def _record_path(folder):
    return os.path.join(folder or ".", OUTPUTS_NAME)


def read_record(folder):
    """``{file name: {"command", "size", "mtime_ns"}}`` of ``folder`` (empty if none
    or unreadable)."""
    try:
        with open(_record_path(folder), encoding="utf-8", errors="surrogateescape") as fh:
            rec = json.load(fh)
    except (OSError, ValueError, RecursionError):
        return {}
    return rec if isinstance(rec, dict) else {}


def wrote_it(path, command=None):
    """Whether ``path`` is a file numbadn wrote (``command`` if given) and nobody
    changed since: recorded in its folder's :data:`OUTPUTS_NAME` with the size and
    modification time it has now."""
    path = os.fspath(path)
    entry = read_record(os.path.dirname(path)).get(os.path.basename(path))
    if not isinstance(entry, dict) or (command and entry.get("command") != command):
        return False
    try:
        st = os.stat(path)
    except OSError:
        return False
    return entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns


def record_written(paths, command):
    """Record ``paths`` (just written by ``command``) in their folders' record."""
    by_folder = {}
    for p in paths:
        p = os.fspath(p)
        by_folder.setdefault(os.path.dirname(p), []).append(p)
    for folder, ps in by_folder.items():
        rec = read_record(folder)
        for p in ps:
            try:
                st = os.stat(p)
            except OSError:
                continue
            rec[os.path.basename(p)] = {"command": command, "size": st.st_size,
                                        "mtime_ns": st.st_mtime_ns}
        target = _record_path(folder)
        tmp = target + f".{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as fh:
                json.dump(rec, fh, indent=0, ensure_ascii=False)
            os.replace(tmp, target)
        except OSError:  # the outputs are written; only the record is lost
            if os.path.exists(tmp):
                os.unlink(tmp)


def forget(paths):
    """Drop ``paths`` from their folders' records (they were removed)."""
    for p in paths:
        p = os.fspath(p)
        folder = os.path.dirname(p)
        rec = read_record(folder)
        if rec.pop(os.path.basename(p), None) is not None:
            try:
                with open(_record_path(folder), "w", encoding="utf-8",
                          errors="surrogateescape") as fh:
                    json.dump(rec, fh, indent=0, ensure_ascii=False)
            except OSError:
                pass


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def check_output(path, *, inputs=(), force=False, command=None, what="--out", file=True):
    """Check, before any work, that ``path`` may be written; nothing is created.

    Refused (one ``ValueError`` naming ``path``): one of ``inputs`` (the files the
    command reads), even with ``force``; an existing file numbadn did not write
    (see :func:`wrote_it`) unless ``force``; something that is not a regular file
    where a file goes (``file=True``) or not a folder where a folder goes; a path
    whose nearest existing folder cannot be written.
    """
    import stat
    path = os.fspath(path)
    if path == "":
        raise ValueError(f"{what} is empty: give a file or folder name")
    if "\0" in path:
        raise ValueError(f"{what} {shown(path)!r} contains a NUL character")
    for src in inputs:
        if src is not None and os.path.exists(path) and _same_file(path, src):
            raise ValueError(f"{what} {shown(path)} is the input file {shown(src)}: numbadn "
                             "never writes over its input; choose another output name")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise cannot_write(path, exc) from None
    if st is not None:
        if file:
            if stat.S_ISDIR(st.st_mode):
                raise CannotWrite(path, "it is a folder", "name a file instead")
            if not stat.S_ISREG(st.st_mode):
                raise CannotWrite(path, f"it is {_kind(st.st_mode)}", "choose a regular file")
            if not force and not wrote_it(path, command):
                raise ValueError(f"{what} {shown(path)} exists and was not written by numbadn"
                                 f"{'' if command is None else ' ' + command}: not replaced; "
                                 "choose another name, or add --force to replace it")
            if not os.access(path, os.W_OK) and not os.access(os.path.dirname(path) or ".",
                                                               os.W_OK):
                raise CannotWrite(path, "permission denied", "choose a path you can write to")
        elif not stat.S_ISDIR(st.st_mode):
            raise CannotWrite(path, f"it is {'a file' if stat.S_ISREG(st.st_mode) else _kind(st.st_mode)}"
                              ", not a folder", "choose a folder name")
    check_writable_folder(path if (st is not None and not file) else
                          os.path.dirname(os.path.abspath(path)), path)
    return path


def check_writable_folder(folder, path):
    """``folder`` (or its nearest existing parent) is a folder this process can
    create files in; else :class:`CannotWrite` for ``path``."""
    import stat
    d = os.path.abspath(folder)
    while True:
        try:
            st = os.stat(d)
        except FileNotFoundError:
            parent = os.path.dirname(d)
            if parent == d:
                break
            d = parent
            continue
        except OSError as exc:
            raise cannot_write(path, exc) from None
        if not stat.S_ISDIR(st.st_mode):
            raise CannotWrite(path, f"{shown(d)} is a file where a folder is needed",
                              "choose another path")
        break
    if not os.access(d, os.W_OK | os.X_OK):
        ro = False
        try:
            ro = bool(os.statvfs(d).f_flag & os.ST_RDONLY)
        except (OSError, AttributeError):
            pass
        if ro:
            raise CannotWrite(path, "the file system is read-only",
                              "choose a folder on a writable disk")
        raise CannotWrite(path, f"permission denied in {shown(d)}",
                          "choose a folder you can write to")
    try:
        ro = bool(os.statvfs(d).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        ro = False
    if ro:
        raise CannotWrite(path, "the file system is read-only",
                          "choose a folder on a writable disk")
    name_max = 255
    try:
        name_max = os.statvfs(d).f_namemax or 255
    except (OSError, AttributeError):
        pass
    for part in os.path.relpath(os.path.abspath(path), d).split(os.sep):
        if len(os.fsencode(part)) > name_max:
            raise CannotWrite(path, "the name is too long", "choose a shorter name")
