"""Reading texture images: PNG / JPEG (anything imageio reads) -> linear float32 RGB.

- 8-bit and 16-bit images are sRGB-encoded unless the caller says ``colorspace="linear"``: each
  value ``c = v / (2**bits - 1)`` is decoded with the IEC 61966-2-1 curve
  ``c / 12.92`` for ``c <= 0.04045``, else ``((c + 0.055) / 1.055) ** 2.4``.
- Floating-point images (e.g. float TIFF) are taken as linear values whatever ``colorspace`` says.
- Grey images are replicated to RGB; an alpha channel is dropped; of an animated image only the
  first frame is used.
- 16-bit PNGs are decoded here (Pillow, imageio's PNG backend, reduces 16-bit colour PNGs to
  8 bits): zlib + the five PNG row filters, Adam7 interlacing included.

Every problem raises :class:`ImageError` with a one-line message ``'<file>: <problem>'``.
"""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

from .._jit import host_jit

__all__ = ["ImageError", "read_image", "read_texture", "srgb_to_linear"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}   # colour type -> samples per pixel (16-bit allowed)
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


class ImageError(ValueError):
    """An image file is missing, unreadable or of an unsupported kind (one-line message)."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB decoding of values in [0, 1] (float64 in, float64 out)."""
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


# ----------------------------------------------------------------------------- 16-bit PNG
@host_jit
def _unfilter(data, start, rows, stride, bpp, out):
    """Undo the PNG row filters of `rows` rows of `stride` bytes starting at data[start] (each
    row preceded by its filter byte) into out (rows, stride) uint8. Returns the next offset, or
    -1 for an unknown filter type."""
    pos = start
    for y in range(rows):
        ftype = data[pos]
        pos += 1
        for x in range(stride):
            raw = np.int32(data[pos + x])
            a = np.int32(out[y, x - bpp]) if x >= bpp else np.int32(0)
            b = np.int32(out[y - 1, x]) if y > 0 else np.int32(0)
            if ftype == 0:
                val = raw
            elif ftype == 1:
                val = raw + a
            elif ftype == 2:
                val = raw + b
            elif ftype == 3:
                val = raw + (a + b) // 2
            elif ftype == 4:
                c = np.int32(out[y - 1, x - bpp]) if (y > 0 and x >= bpp) else np.int32(0)
                p = a + b - c
                pa = abs(p - a)
                pb = abs(p - b)
                pc = abs(p - c)
                if pa <= pb and pa <= pc:
                    val = raw + a
                elif pb <= pc:
                    val = raw + b
                else:
                    val = raw + c
            else:
                return -1
            out[y, x] = np.uint8(val & 255)
        pos += stride
    return pos


def _png_header(head: bytes):
    """(width, height, bit depth, colour type, interlace) of a PNG's first bytes, or None."""
    if len(head) < 33 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return width, height, depth, ctype, interlace


def _read_png16(src: str, data: bytes) -> np.ndarray:
    """(H, W, C) uint16 samples of a 16-bit PNG."""
    width, height, _, ctype, interlace = _png_header(data)
    if ctype not in _PNG_CHANNELS:
        raise ImageError(f"{src}: unsupported 16-bit PNG colour type {ctype}")
    if width == 0 or height == 0:
        raise ImageError(f"{src}: image has no pixels ({width} x {height})")
    idat = []
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if pos + 12 + length > len(data):
            raise ImageError(f"{src}: truncated PNG chunk {kind!r}")
        if kind == b"IDAT":
            idat.append(data[pos + 8:pos + 8 + length])
        elif kind == b"IEND":
            break
        pos += 12 + length
    try:
        raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    except zlib.error as err:
        raise ImageError(f"{src}: corrupt PNG image data ({err})") from None
    channels = _PNG_CHANNELS[ctype]
    bpp = 2 * channels
    out = np.zeros((height, width * bpp), dtype=np.uint8)
    passes = _ADAM7 if interlace == 1 else ((0, 0, 1, 1),)
    offset = 0
    for x0, y0, dx, dy in passes:
        pw = (width - x0 + dx - 1) // dx if width > x0 else 0
        ph = (height - y0 + dy - 1) // dy if height > y0 else 0
        if pw == 0 or ph == 0:
            continue
        stride = pw * bpp
        if offset + ph * (stride + 1) > raw.size:
            raise ImageError(f"{src}: truncated PNG image data")
        sub = np.zeros((ph, stride), dtype=np.uint8)
        offset = _unfilter(raw, offset, ph, stride, bpp, sub)
        if offset < 0:
            raise ImageError(f"{src}: corrupt PNG image data (unknown row filter)")
        view = out.reshape(height, width, bpp)
        view[y0::dy, x0::dx] = sub.reshape(ph, pw, bpp)
    return out.view(">u2").reshape(height, width, channels).astype(np.uint16)


# ----------------------------------------------------------------------------- public
def read_image(path) -> np.ndarray:
    """The pixels of an image file as stored: (H, W, C) array (uint8, uint16 or float).

    Raises
    ------
    ImageError
        ``'<file>: file not found'``, ``'<file>: cannot read image (...)'``, ...
    """
    src = os.fspath(path)
    p = Path(src)
    if not p.exists():
        raise ImageError(f"{src}: file not found")
    if p.is_dir():
        raise ImageError(f"{src}: is a directory, not an image file")
    try:
        data = p.read_bytes()
    except OSError as err:
        raise ImageError(f"{src}: cannot read file ({err.strerror or err})") from None
    header = _png_header(data[:33])
    if header is not None and header[2] == 16:
        img = _read_png16(src, data)
    else:
        import warnings

        import imageio.v3 as iio

        try:
            with warnings.catch_warnings():   # imageio warns about legacy plugins it tries
                warnings.simplefilter("ignore")
                img = np.asarray(iio.imread(data, index=0, extension=p.suffix.lower() or None))
        except Exception as err:  # imageio raises many types for undecodable input
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ImageError(f"{src}: cannot read image ({first})") from None
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 2, 3, 4) or img.shape[0] == 0 or img.shape[1] == 0:
        raise ImageError(f"{src}: unsupported image shape {img.shape}")
    if img.dtype.kind not in "uf" and img.dtype != np.bool_:
        raise ImageError(f"{src}: unsupported pixel type {img.dtype}")
    return img


def read_texture(path, colorspace: str = "srgb") -> np.ndarray:
    """An image as linear RGB: (H, W, 3) float32, row 0 = top of the image.

    Parameters
    ----------
    path : the image file
    colorspace : "srgb" (decode 8/16-bit values with the sRGB curve) or "linear" (v / max)
    """
    img = read_image(path)
    if img.dtype == np.bool_:
        c = img.astype(np.float64)
    elif img.dtype.kind == "u":
        if img.dtype.itemsize > 2:
            raise ImageError(f"{os.fspath(path)}: unsupported pixel type {img.dtype}")
        c = img.astype(np.float64) / float(np.iinfo(img.dtype).max)
        if colorspace == "srgb":
            c = srgb_to_linear(c)
    else:
        c = img.astype(np.float64)
        if not np.isfinite(c).all():
            raise ImageError(f"{os.fspath(path)}: image has non-finite values")
    channels = c.shape[2]
    if channels <= 2:
        rgb = np.repeat(c[:, :, :1], 3, axis=2)
    else:
        rgb = c[:, :, :3]
    return np.ascontiguousarray(rgb, dtype=np.float32)
