"""A Data frame built by hand is byte for byte the protobuf encoding, for both protocols."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wdp.core.fetch.request import decode_fetch_message, encode_fetch_message
from wdp.core.framing import FrameDecoder, encode_frame
from wdp.core.limits import MAX_CHUNK_SIZE, MAX_FRAME_SIZE
from wdp.core.messages import (
    FETCH_DATA_FIELD,
    MIGRATE_DATA_FIELD,
    Data,
    data_frame,
    decode_message,
    encode_message,
)

offsets = st.one_of(st.just(0), st.integers(0, 127), st.integers(0, (1 << 64) - 1))
chunks = st.binary(min_size=1, max_size=3000)


@settings(max_examples=300)
@given(offsets, chunks)
def test_a_migrate_data_frame_is_its_protobuf_encoding(offset: int, chunk: bytes) -> None:
    data = Data(offset, chunk)
    frame = data_frame(MIGRATE_DATA_FIELD, data)
    assert frame == encode_frame(encode_message(data), MAX_FRAME_SIZE)
    assert decode_message(FrameDecoder(MAX_FRAME_SIZE).feed(frame)[0]) == data


@settings(max_examples=300)
@given(offsets, chunks)
def test_a_fetch_data_frame_is_its_protobuf_encoding(offset: int, chunk: bytes) -> None:
    data = Data(offset, chunk)
    frame = data_frame(FETCH_DATA_FIELD, data)
    assert frame == encode_frame(encode_fetch_message(data), MAX_FRAME_SIZE)
    assert decode_fetch_message(FrameDecoder(MAX_FRAME_SIZE).feed(frame)[0]) == data


@pytest.mark.parametrize("size", [MAX_CHUNK_SIZE - 1, MAX_CHUNK_SIZE])
def test_a_full_chunk_too(size: int) -> None:
    data = Data(5 * MAX_CHUNK_SIZE, bytes(range(256)) * (size // 256) + b"x" * (size % 256))
    expected = encode_frame(encode_message(data), MAX_FRAME_SIZE)
    assert data_frame(MIGRATE_DATA_FIELD, data) == expected


@pytest.mark.parametrize("size", [0, MAX_CHUNK_SIZE + 1])
def test_an_empty_or_oversized_chunk_is_refused(size: int) -> None:
    with pytest.raises(ValueError):
        data_frame(MIGRATE_DATA_FIELD, Data(0, b"x" * size))
