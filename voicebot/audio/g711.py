"""G.711 mu-law (PCMU) and A-law (PCMA) codecs, vectorized with numpy lookup tables.

Follows ITU-T G.711 as implemented by the classic Sun Microsystems ``g711.c``: mu-law adds a bias of 0x84
(33 in 14-bit units) before finding the segment and stores the complement; A-law inverts the even bits
(XOR 0x55). Decoding always produces 16-bit PCM.

Both directions are table lookups. The 256-entry decode tables and the 65536-entry encode tables (one entry
per int16 value, indexed by its bit pattern) are computed once at import with the same vectorized
bit-twiddling a scalar encoder would do per sample, so encoding a 20 ms frame is a single ``take``.

Round trip: ``encode(decode(code)) == code`` for every A-law code and every mu-law code except 0x7F. mu-law
has two codes for zero (0xFF "+0" and 0x7F "-0"); both decode to 0, and 0 encodes to 0xFF.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from voicebot.audio.pcm import Pcm, as_pcm

Codec: TypeAlias = Literal["PCMU", "PCMA"]
"""RTP/SDP names: PCMU is mu-law (payload type 0), PCMA is A-law (payload type 8)."""

Encoded: TypeAlias = bytes | bytearray | memoryview | npt.NDArray[np.uint8]

_SIGN_BIT = 0x80
_QUANT_MASK = 0x0F
_SEG_MASK = 0x70
_SEG_SHIFT = 4

_MULAW_BIAS = 0x84  # 132 in 16-bit units, 33 in the 14-bit domain the encoder works in
_MULAW_CLIP = 8159  # largest 14-bit magnitude before the bias pushes it past the last segment
_ALAW_INVERT = 0x55  # G.711 A-law transmits with every even bit inverted

# Upper bound of each segment, in the encoder's reduced-precision domain.
_MULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)


def _mulaw_decode_table() -> Pcm:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    magnitude = (((code & _QUANT_MASK) << 3) + _MULAW_BIAS) << ((code & _SEG_MASK) >> _SEG_SHIFT)
    return np.where(code & _SIGN_BIT, _MULAW_BIAS - magnitude, magnitude - _MULAW_BIAS).astype(np.int16)


def _alaw_decode_table() -> Pcm:
    code = np.arange(256, dtype=np.int32) ^ _ALAW_INVERT
    mantissa = (code & _QUANT_MASK) << 4
    segment = (code & _SEG_MASK) >> _SEG_SHIFT
    # Segment 0 has no implied leading bit; segments 1..7 add it (0x100) plus half a step (0x08).
    magnitude = np.where(segment == 0, mantissa + 8, (mantissa + 0x108) << np.maximum(segment - 1, 0))
    return np.where(code & _SIGN_BIT, magnitude, -magnitude).astype(np.int16)


def _all_int16_by_bit_pattern() -> npt.NDArray[np.int32]:
    # Index i of an encode table is the uint16 bit pattern of the sample, so lookups need no offset.
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)


def _mulaw_encode_table() -> npt.NDArray[np.uint8]:
    value = _all_int16_by_bit_pattern() >> 2  # mu-law works on 14-bit samples
    negative = value < 0
    mask = np.where(negative, 0x7F, 0xFF)
    magnitude = np.minimum(np.where(negative, -value, value), _MULAW_CLIP) + (_MULAW_BIAS >> 2)
    segment = np.searchsorted(_MULAW_SEG_END, magnitude).astype(np.int32)
    code = (segment << 4) | ((magnitude >> (segment + 1)) & _QUANT_MASK)
    # The clipped maximum plus the bias (8159 + 33 = 0x2000) lands just past segment 7: saturate to the
    # largest code, as the reference does.
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def _alaw_encode_table() -> npt.NDArray[np.uint8]:
    value = _all_int16_by_bit_pattern() >> 3  # A-law works on 13-bit samples
    negative = value < 0
    mask = np.where(negative, _ALAW_INVERT, _ALAW_INVERT | _SIGN_BIT)
    # One's complement for negatives: A-law has no zero code, -1..-8 map to the smallest negative step.
    magnitude = np.where(negative, -value - 1, value)
    segment = np.searchsorted(_ALAW_SEG_END, magnitude).astype(np.int32)
    shift = np.where(segment < 2, 1, segment)
    code = (segment << 4) | ((magnitude >> shift) & _QUANT_MASK)
    # 13-bit magnitudes never exceed 0xFFF, but keep the overflow rule of the reference: saturate.
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


MULAW_DECODE_TABLE: Pcm = _mulaw_decode_table()
"""int16 value of each mu-law code (read-only)."""
ALAW_DECODE_TABLE: Pcm = _alaw_decode_table()
"""int16 value of each A-law code (read-only)."""
_MULAW_ENCODE = _mulaw_encode_table()
_ALAW_ENCODE = _alaw_encode_table()
for _table in (MULAW_DECODE_TABLE, ALAW_DECODE_TABLE, _MULAW_ENCODE, _ALAW_ENCODE):
    _table.flags.writeable = False  # shared module state: a stray in-place write would corrupt every call


def _codes(data: Encoded) -> npt.NDArray[np.uint8]:
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8 or data.ndim != 1:
            raise TypeError(f"G.711 codes must be a 1-D uint8 array, got {data.dtype} with shape {data.shape}")
        return data
    return np.frombuffer(data, dtype=np.uint8)


def _encode(pcm: Pcm, table: npt.NDArray[np.uint8]) -> bytes:
    samples = as_pcm(pcm)
    return table[samples.view(np.uint16)].tobytes()


def mulaw_encode(pcm: Pcm) -> bytes:
    """Encode int16 PCM (8 kHz) to mu-law bytes, one byte per sample."""
    return _encode(pcm, _MULAW_ENCODE)


def mulaw_decode(data: Encoded) -> Pcm:
    """Decode mu-law bytes (or a uint8 array) to int16 PCM."""
    return MULAW_DECODE_TABLE[_codes(data)]


def alaw_encode(pcm: Pcm) -> bytes:
    """Encode int16 PCM (8 kHz) to A-law bytes, one byte per sample."""
    return _encode(pcm, _ALAW_ENCODE)


def alaw_decode(data: Encoded) -> Pcm:
    """Decode A-law bytes (or a uint8 array) to int16 PCM."""
    return ALAW_DECODE_TABLE[_codes(data)]


def encode(codec: Codec, pcm: Pcm) -> bytes:
    """Encode with the codec negotiated in SDP (``"PCMU"`` or ``"PCMA"``)."""
    if codec == "PCMU":
        return mulaw_encode(pcm)
    if codec == "PCMA":
        return alaw_encode(pcm)
    raise ValueError(f"unknown G.711 codec {codec!r}; expected 'PCMU' or 'PCMA'")


def decode(codec: Codec, data: Encoded) -> Pcm:
    """Decode with the codec negotiated in SDP (``"PCMU"`` or ``"PCMA"``)."""
    if codec == "PCMU":
        return mulaw_decode(data)
    if codec == "PCMA":
        return alaw_decode(data)
    raise ValueError(f"unknown G.711 codec {codec!r}; expected 'PCMU' or 'PCMA'")
