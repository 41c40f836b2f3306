"""Writing render outputs: image and array files, meta.json; every file written atomically.

Each file is written to a temporary name in the destination folder and renamed over the final
name, so an interrupted run never leaves a truncated file and never damages an older one.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import RaysynthError


def _file_mode() -> int:
    """Mode of a newly created file under the current umask (mkstemp's own 0600 is private)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _file_mode()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def png_bytes(image: np.ndarray) -> bytes:
    """PNG encoding of an (H, W) or (H, W, 3) uint8 or uint16 array.

    Pillow (imageio's PNG backend, installed with imageio) is called directly, the way
    ``imageio.v3.imwrite(..., extension=".png")`` calls it, so the bytes are the same; imageio's
    plugin set-up would first import every Pillow format plugin (about 35 ms per process).
    """
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def linear_to_srgb8(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) linear float -> 8-bit sRGB (clipped to [0, 1], IEC 61966-2-1 transfer curve)."""
    c = np.clip(np.nan_to_num(rgb.astype(np.float64), nan=0.0), 0.0, 1.0)
    srgb = np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)
    return np.round(srgb * 255.0).astype(np.uint8)


def ids_to_png16(ids: np.ndarray, what: str) -> np.ndarray:
    if ids.size and int(ids.max()) > 65535:
        raise RaysynthError(f"{what}: {int(ids.max())} ids do not fit in a 16-bit PNG (at most 65535)")
    return ids.astype(np.uint16)


def encode_layers(layers: dict) -> dict:
    """File name -> bytes for every output file of one render (see ``raysynth render``)."""
    files = {
        "rgb.png": png_bytes(linear_to_srgb8(layers["rgb"])),
        "rgb.npy": npy_bytes(layers["rgb"].astype(np.float32)),
        "depth.npy": npy_bytes(layers["depth"].astype(np.float32)),
        "distance.npy": npy_bytes(layers["distance"].astype(np.float32)),
        "normals.npy": npy_bytes(layers["normals"].astype(np.float32)),
        "position.npy": npy_bytes(layers["position"].astype(np.float32)),
        "coverage.npy": npy_bytes(layers["coverage"].astype(np.float32)),
        "instance.png": png_bytes(ids_to_png16(layers["instance"], "instance")),
        "class.png": png_bytes(ids_to_png16(layers["class"], "class")),
        "part.png": png_bytes(ids_to_png16(layers["part"], "part")),
        "albedo.png": png_bytes(linear_to_srgb8(layers["albedo"])),
        "meta.json": (json.dumps(layers["meta"], indent=2) + "\n").encode(),
    }
    if "soft_ids" in layers:
        files["soft_ids.npy"] = npy_bytes(layers["soft_ids"].astype(np.int32))
        files["soft_weight.npy"] = npy_bytes(layers["soft_weight"].astype(np.float32))
        files["edge.png"] = png_bytes((layers["soft_weight"][:, :, 0] < 1.0).astype(np.uint8) * 255)
    if "labels" in layers:
        files["labels.json"] = json_bytes(layers["labels"])
    return files


def json_bytes(record) -> bytes:
    """Compact-but-readable JSON (one object per line would be larger to diff; indent 1)."""
    return (json.dumps(record, indent=1) + "\n").encode()


def write_layers(layers: dict, out_dir) -> list[Path]:
    """Encode every layer first (so an error writes nothing), then write each file atomically.

    Returns the paths written.
    """
    files = encode_layers(layers)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RaysynthError(f"--out: cannot create folder {out} ({err.strerror})") from None
    written = []
    for name, data in files.items():
        atomic_write_bytes(out / name, data)
        written.append(out / name)
    return written
