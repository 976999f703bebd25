"""Where an --output job's files live: local paths, or objects in a store named by a URI (s3://bucket/key,
gs://bucket/key), read, listed and written through pyarrow.fs (autocli[remote]).

The store's own settings say how to reach it: for S3 the standard AWS variables and profile (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_REGION, and AWS_ENDPOINT_URL for an S3-compatible store other than AWS),
for GCS its default credentials (GOOGLE_APPLICATION_CREDENTIALS).

An object store has no rename, but an object appears whole or not at all when its upload completes; so a part is
written under its own name and its manifest after it, and only the manifest marks the shard done.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import glob
import io
import os
import posixpath
import shutil
import tempfile

from autocli.errors import AutocliError, NotReachable, Unsupported, UsageError

SCHEMES = ("s3", "gs", "gcs")
# the environment that says how to reach a store: a Ray job's workers get the driver's
STORE_ENV = ("AWS_", "GOOGLE_APPLICATION_CREDENTIALS")
DENIED = ("ACCESS_DENIED", "AccessDenied", "INVALID_ACCESS_KEY_ID", "SIGNATURE_DOES_NOT_MATCH", "Forbidden", "credentials")
UNREACHABLE = ("NETWORK_CONNECTION", "Could not connect", "Couldn't connect", "resolve host", "Timeout", "timed out")
CREDENTIALS_HINT = "give the store's credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (GCS: GOOGLE_APPLICATION_CREDENTIALS)"


def is_remote(path) -> bool:
    """Whether `path` names an object in a store (scheme://...) rather than a local file."""
    scheme, sep, _ = str(path).partition("://")
    return bool(sep) and scheme.isalnum() and scheme.lower() != "file"


def store_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(STORE_ENV)}


def locate(uri: str):
    """A store URI -> (its pyarrow filesystem, the object's path in it: bucket/key)."""
    scheme, _, rest = uri.partition("://")
    if scheme.lower() not in SCHEMES:
        raise Unsupported(f"{uri}: the {scheme}:// store is not supported", "use s3:// or gs://, or a local path")
    bucket = rest.split("/", 1)[0]
    if not bucket:
        raise UsageError(f"{uri} names no bucket", f"e.g. {scheme}://bucket/data/")
    return _filesystem(f"{scheme.lower()}://{bucket}", tuple(sorted(store_env().items()))), rest.rstrip("/")


def _fs():
    from autocli.extras import need

    return need("pyarrow.fs", "remote")


@functools.lru_cache(maxsize=None)
def _filesystem(root: str, env: tuple):
    """One filesystem per bucket and store environment (S3 asks once for the bucket's region)."""
    try:
        return _fs().FileSystem.from_uri(root)[0]
    except (OSError, ValueError) as e:
        raise failure(e, root) from None


def failure(e: Exception, uri: str) -> AutocliError:
    """A store's exception as a one-line error: a missing object or bucket is a usage error; no access, or no
    answer, is exit 3 (not reachable)."""
    text = str(e)
    reason = text.splitlines()[0].split(" (Request ID")[0] if text else type(e).__name__
    reason = reason[reason.find("AWS Error"):] if "AWS Error" in reason else reason
    if "NO_SUCH_BUCKET" in text or "NoSuchBucket" in text:
        return no_bucket(uri)
    if isinstance(e, FileNotFoundError):
        return UsageError(f"{uri}: no such object", "check the path")
    if any(k in text for k in DENIED):
        return NotReachable(f"{uri}: access denied ({reason})", CREDENTIALS_HINT)
    if any(k in text for k in UNREACHABLE):
        return NotReachable(f"cannot reach {uri}: {reason}", "check the network, or AWS_ENDPOINT_URL for a store other than AWS")
    return NotReachable(f"{uri}: {reason}", "check the store and its credentials")


def no_bucket(uri: str) -> UsageError:
    return UsageError(f"{uri}: the bucket does not exist", "check the bucket's name (and AWS_ENDPOINT_URL for a store other than AWS)")


def list_objects(pattern: str) -> list[str]:
    """The objects a store URI names, sorted: the object itself, every object under a prefix (names starting with
    '.' or '_' left out), or those a glob pattern matches ('*' stays within one '/' level)."""
    filesystem, path = locate(pattern)
    fs = _fs()
    scheme = pattern.partition("://")[0] + "://"
    parts = path.split("/")
    magic = next((i for i, p in enumerate(parts) if glob.has_magic(p)), None)
    if magic == 0:
        raise UsageError(f"{pattern}: a bucket's name cannot be a pattern", "name the bucket; patterns may follow it")
    base = path if magic is None else "/".join(parts[:magic])
    try:
        if magic is None and filesystem.get_file_info(path).type == fs.FileType.File:
            return [scheme + path]
        found = filesystem.get_file_info(fs.FileSelector(base, recursive=True, allow_not_found=True))
        files = sorted(scheme + f.path for f in found if f.type == fs.FileType.File and _wanted(f.path, base, parts, magic))
        bucket_missing = not files and filesystem.get_file_info(parts[0]).type == fs.FileType.NotFound
    except OSError as e:
        raise failure(e, pattern) from None
    if bucket_missing:
        raise no_bucket(pattern)
    return files


def _wanted(path: str, base: str, parts: list[str], magic: int | None) -> bool:
    names = path.split("/")
    if any(n.startswith((".", "_")) for n in names[len(base.split("/")):]):
        return False
    return magic is None or (len(names) == len(parts) and all(fnmatch.fnmatchcase(n, p) for n, p in zip(names, parts)))


def size(file: str) -> int:
    if not is_remote(file):
        return os.stat(file).st_size
    filesystem, path = locate(file)
    try:
        info = filesystem.get_file_info(path)
    except OSError as e:
        raise failure(e, file) from None
    if info.type != _fs().FileType.File:
        raise failure(FileNotFoundError(file), file)
    return info.size


def open_input(file: str):
    """A file or an object, opened for reading bytes (seek and readline work on both)."""
    if not is_remote(file):
        return open(file, "rb")
    filesystem, path = locate(file)
    try:
        return io.BufferedReader(filesystem.open_input_file(path), 1 << 20)
    except OSError as e:
        raise failure(e, file) from None


# an image or audio object is copied to a temporary file before decoding: more than this is refused unread
MAX_MEDIA_BYTES = 2 << 30


@contextlib.contextmanager
def local_copy(file: str):
    """A local path holding `file`: the path itself, or a temporary copy of an object in a store (the decoders
    read headers, seek and re-read, which a network stream does not do cheaply). Errors name the object."""
    if not is_remote(file):
        yield file
        return
    length = size(file)
    if length > MAX_MEDIA_BYTES:
        raise UsageError(f"{file}: {length} bytes is more than the {MAX_MEDIA_BYTES >> 30} GiB autocli copies from a store",
                         "split the file, or copy it to this machine and pass the local path")
    filesystem, path = locate(file)
    suffix = posixpath.splitext(path)[1]
    with tempfile.NamedTemporaryFile(suffix=suffix[:16] if suffix.isascii() else "") as tmp:
        try:
            with filesystem.open_input_stream(path) as handle:
                shutil.copyfileobj(handle, tmp, 1 << 20)
        except OSError as e:
            raise failure(e, file) from None
        tmp.flush()
        try:
            yield tmp.name
        except AutocliError as e:
            e.message = e.message.replace(tmp.name, file)
            raise


def arrow_source(file: str) -> tuple[str, object]:
    """(path, filesystem) for pyarrow's readers; filesystem None for a local file."""
    return (file, None) if not is_remote(file) else tuple(reversed(locate(file)))


def beside(listing: str, name: str) -> str:
    """A path read from a listing file: relative ones are relative to the listing's folder."""
    if is_remote(name) or os.path.isabs(name):
        return name
    if is_remote(listing):
        return posixpath.join(posixpath.dirname(listing), name)
    return os.path.join(os.path.dirname(listing), name)


class Folder:
    """The --output folder: a local directory, or a prefix in a store. Names are relative to it ('a/b')."""

    def __init__(self, root: str):
        self.remote = is_remote(root)
        head, sep, rest = str(root).partition("://") if self.remote else ("", "", str(root))
        self.root = head + sep + (rest.rstrip("/") or ("" if sep else "/"))

    def __str__(self) -> str:
        return self.root

    def show(self, name: str) -> str:
        return f"{self.root}/{name}"

    def _call(self, name: str, action):
        filesystem, path = locate(self.show(name))
        try:
            return action(filesystem, path)
        except OSError as e:
            raise failure(e, self.show(name)) from None

    def make(self, sub: str) -> None:
        if self.remote:  # no folders to make in a store, but its bucket must be there
            if self._call(sub, lambda f, p: f.get_file_info(p.split("/")[0])).type == _fs().FileType.NotFound:
                raise no_bucket(self.root)
            return
        try:
            os.makedirs(self.show(sub), exist_ok=True)
        except OSError as e:
            raise UsageError(f"cannot make the --output folder {self.root}: {e.strerror}", "give a folder path") from None

    def files(self, sub: str = "") -> dict[str, int]:
        """The files directly in the folder (or its subfolder `sub`): name -> bytes."""
        if not self.remote:
            folder = self.show(sub) if sub else self.root
            with os.scandir(folder) as found:
                return {posixpath.join(sub, e.name): e.stat().st_size for e in found if e.is_file()}
        fs = _fs()
        infos = self._call(sub, lambda f, p: f.get_file_info(fs.FileSelector(p, allow_not_found=True)))
        return {posixpath.join(sub, i.base_name): i.size for i in infos if i.type == fs.FileType.File}

    def read(self, name: str) -> bytes:
        if not self.remote:
            with open(self.show(name), "rb") as handle:
                return handle.read()
        return self._call(name, lambda f, p: _read_all(f, p))

    def write(self, name: str, data: bytes) -> None:
        """Put `data` under `name` whole or not at all: locally a hidden temporary name, flushed to disk and
        renamed; in a store one upload, which the store publishes only once it completes."""
        if self.remote:
            return self._call(name, lambda f, p: _upload(f, p, data))
        path = self.show(name)
        tmp = posixpath.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp-{os.getpid()}")
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def delete(self, name: str) -> None:
        if self.remote:
            return self._call(name, lambda f, p: f.delete_file(p))
        try:
            os.unlink(self.show(name))
        except FileNotFoundError:
            pass


def _read_all(filesystem, path: str) -> bytes:
    with filesystem.open_input_stream(path) as handle:
        return handle.read()


def _upload(filesystem, path: str, data: bytes) -> None:
    # pyarrow cannot abort an upload: one the network cut may still publish a short object, but then its manifest
    # is never written, and --resume writes the part again
    with filesystem.open_output_stream(path) as handle:
        handle.write(data)
