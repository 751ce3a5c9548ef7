"""Framing between the service and its finance worker: a 4-byte big-endian length, then JSON.

Length prefixes (not newlines) so a frame never depends on what the payload contains.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any, BinaryIO

HEADER = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024  # 1000 records of a few KB each stay far below this

Frame = dict[str, Any]


class FrameError(ValueError):
    """The peer sent something that is not a frame; the pipe cannot be trusted any more."""


def encode_frame(payload: Frame) -> bytes:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    if len(body) > MAX_FRAME:
        raise FrameError(f"frame of {len(body)} bytes exceeds {MAX_FRAME}")
    return HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> Frame:
    try:
        payload = json.loads(body)
    except ValueError:
        raise FrameError("frame body is not JSON") from None
    if not isinstance(payload, dict):
        raise FrameError("frame body is not a JSON object")
    return payload


def _length(header: bytes) -> int:
    (length,) = HEADER.unpack(header)
    if length > MAX_FRAME:
        raise FrameError(f"frame of {length} bytes exceeds {MAX_FRAME}")
    return length


def read_frame_sync(stream: BinaryIO) -> Frame | None:
    """Read one frame from a blocking stream; None on a clean EOF between frames."""
    header = stream.read(HEADER.size)
    if not header:
        return None
    if len(header) < HEADER.size:
        raise FrameError("truncated frame header")
    length = _length(header)
    body = stream.read(length)
    if len(body) < length:
        raise FrameError("truncated frame body")
    return decode_body(body)


async def read_frame(reader: asyncio.StreamReader) -> Frame:
    """Read one frame; `asyncio.IncompleteReadError` means the peer is gone."""
    length = _length(await reader.readexactly(HEADER.size))
    return decode_body(await reader.readexactly(length))
