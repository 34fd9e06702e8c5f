"""voicebot.audio.g711 against an independent scalar port of the Sun Microsystems g711.c reference."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tests.audio.signals import sine, snr_db
from voicebot.audio import g711
from voicebot.audio.pcm import Pcm

# --- Scalar reference: a line-by-line port of Sun's g711.c (public domain), one sample at a time. ---

SIGN_BIT, QUANT_MASK, SEG_SHIFT, SEG_MASK = 0x80, 0xF, 4, 0x70
BIAS, CLIP = 0x84, 8159
SEG_UEND = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]
SEG_AEND = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF]


def search(val: int, table: list[int]) -> int:
    for i, end in enumerate(table):
        if val <= end:
            return i
    return len(table)


def ulaw2linear(u_val: int) -> int:
    u_val = ~u_val & 0xFF
    t = ((u_val & QUANT_MASK) << 3) + BIAS
    t <<= (u_val & SEG_MASK) >> SEG_SHIFT
    return BIAS - t if u_val & SIGN_BIT else t - BIAS


def alaw2linear(a_val: int) -> int:
    a_val ^= 0x55
    t = (a_val & QUANT_MASK) << 4
    seg = (a_val & SEG_MASK) >> SEG_SHIFT
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t += 0x108
        t <<= seg - 1
    return t if a_val & SIGN_BIT else -t


def linear2ulaw(pcm_val: int) -> int:
    pcm_val >>= 2
    if pcm_val < 0:
        pcm_val = -pcm_val
        mask = 0x7F
    else:
        mask = 0xFF
    pcm_val = min(pcm_val, CLIP) + (BIAS >> 2)
    seg = search(pcm_val, SEG_UEND)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((pcm_val >> (seg + 1)) & 0xF)) ^ mask


def linear2alaw(pcm_val: int) -> int:
    pcm_val >>= 3
    if pcm_val >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        pcm_val = -pcm_val - 1
    seg = search(pcm_val, SEG_AEND)
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << SEG_SHIFT
    aval |= (pcm_val >> 1 if seg < 2 else pcm_val >> seg) & QUANT_MASK
    return aval ^ mask


ALL_CODES = bytes(range(256))
ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)


def test_mulaw_decode_matches_reference_for_all_codes() -> None:
    assert g711.mulaw_decode(ALL_CODES).tolist() == [ulaw2linear(c) for c in range(256)]


def test_alaw_decode_matches_reference_for_all_codes() -> None:
    assert g711.alaw_decode(ALL_CODES).tolist() == [alaw2linear(c) for c in range(256)]


def test_mulaw_encode_matches_reference_for_every_int16() -> None:
    assert list(g711.mulaw_encode(ALL_SAMPLES)) == [linear2ulaw(int(s)) for s in ALL_SAMPLES]


def test_alaw_encode_matches_reference_for_every_int16() -> None:
    assert list(g711.alaw_encode(ALL_SAMPLES)) == [linear2alaw(int(s)) for s in ALL_SAMPLES]


@pytest.mark.parametrize(
    ("decode", "code", "value"),
    [
        (g711.mulaw_decode, 0xFF, 0),
        (g711.mulaw_decode, 0x7F, 0),
        (g711.mulaw_decode, 0x00, -32124),
        (g711.mulaw_decode, 0x80, 32124),
        (g711.alaw_decode, 0xD5, 8),
        (g711.alaw_decode, 0x55, -8),
        (g711.alaw_decode, 0xAA, 32256),
        (g711.alaw_decode, 0x2A, -32256),
    ],
)
def test_known_values(decode: Callable[[bytes], Pcm], code: int, value: int) -> None:
    assert decode(bytes([code])).tolist() == [value]


def test_mulaw_round_trip_of_every_code_except_negative_zero() -> None:
    # 0x7F is mu-law's "-0": it decodes to 0 like 0xFF, and 0 encodes to 0xFF.
    back = g711.mulaw_encode(g711.mulaw_decode(ALL_CODES))
    assert [c for c in range(256) if back[c] != c] == [0x7F]
    assert back[0x7F] == 0xFF


def test_alaw_round_trip_of_every_code() -> None:
    assert g711.alaw_encode(g711.alaw_decode(ALL_CODES)) == ALL_CODES


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_sine_round_trip_snr(codec: g711.Codec) -> None:
    tone = sine(1000, 1.0, 8000, level_dbfs=-10.0)
    encoded = g711.encode(codec, tone)
    assert len(encoded) == len(tone)
    assert snr_db(tone, g711.decode(codec, encoded)) > 35.0


def test_decode_accepts_bytes_bytearray_memoryview_and_uint8_arrays() -> None:
    data = bytes([0x00, 0x7F, 0xFF])
    expected = [-32124, 0, 0]
    for form in (data, bytearray(data), memoryview(data), np.frombuffer(data, dtype=np.uint8)):
        decoded = g711.mulaw_decode(form)
        assert decoded.dtype == np.int16
        assert decoded.tolist() == expected


def test_decode_rejects_wrong_arrays() -> None:
    with pytest.raises(TypeError):
        g711.alaw_decode(np.zeros(4, dtype=np.int16))


def test_encode_rejects_non_int16() -> None:
    with pytest.raises(TypeError):
        g711.mulaw_encode(np.zeros(4, dtype=np.float32))


def test_unknown_codec() -> None:
    with pytest.raises(ValueError, match=r"G\.722"):
        g711.encode("G.722", np.zeros(4, dtype=np.int16))  # type: ignore[arg-type]


def test_tables_are_read_only() -> None:
    with pytest.raises(ValueError):
        g711.MULAW_DECODE_TABLE[0] = 1
