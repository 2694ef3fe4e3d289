"""segments.json: files of several segments (README section 19): seeds, index decoding,
the version 3 ticket and the version 2 tickets a reader derives from it."""

from __future__ import annotations

from typing import Any

from wdp.core.errors import ProtocolError
from wdp.core.limits import MAX_INDEX_SIZE, MAX_SEGMENT_SIZE, MAX_SEGMENTS, MIN_SEGMENT_SIZE
from wdp.core.proto import wdp_pb2 as pb
from wdp.core.segments import (
    SegmentIndex,
    check_index,
    check_segment,
    index_seed,
    index_ticket,
    segment_grant,
    segment_seed,
    segment_ticket,
)
from wdp.core.signing import public_key_of
from wdp.core.ticket import Ticket
from wdp.core.wanderer import repair_seed
from wdp.vectors.common import OWNER_SEED, label_seed
from wdp.vectors.render import render

FILE_SEED = OWNER_SEED
SEGMENT_POINTS = (0, 1, 2, 65535, 2**32 - 1)
MIB = 1024 * 1024


def _seed_cases() -> list[dict[str, Any]]:
    cases = []
    for name, f in (
        ("file_seed_00_to_1f", FILE_SEED),
        ("file_seed_label", label_seed("wdp/vectors/file-seed")),
    ):
        g = index_seed(f)
        cases.append(
            {
                "name": f"seeds_{name}",
                "kind": "seeds",
                "file_seed": f.hex(),
                "file_repair_seed": repair_seed(f).hex(),
                "index_seed": g.hex(),
                "index_owner_key": public_key_of(g).hex(),
                "segments": [
                    {
                        "index": i,
                        "segment_seed": segment_seed(f, i).hex(),
                        "owner_key": public_key_of(segment_seed(f, i)).hex(),
                        "repair_seed": repair_seed(segment_seed(f, i)).hex(),
                    }
                    for i in SEGMENT_POINTS
                ],
            }
        )
    return cases


def _index(file_size: int, segment_size: int, count: int | None = None) -> pb.SegmentIndexBody:
    c = count if count is not None else -(-file_size // segment_size)
    return pb.SegmentIndexBody(
        version=1,
        file_size=file_size,
        segment_size=segment_size,
        manifest_hashes=[label_seed(f"wdp/vectors/segment-manifest/{i}") for i in range(c)],
        repair_seeds=[repair_seed(segment_seed(FILE_SEED, i)) for i in range(c)],
        repair_grants=[segment_grant(segment_seed(FILE_SEED, i)) for i in range(c)],
        owner_keys=[public_key_of(segment_seed(FILE_SEED, i)) for i in range(c)],
    )


def _encoded(body: pb.SegmentIndexBody) -> bytes:
    return body.SerializeToString(deterministic=True)


def _index_cases() -> list[dict[str, Any]]:
    valid = _index(3 * MIB + 5, MIB)
    inputs: list[tuple[str, bytes]] = [
        ("valid_4_segments", _encoded(valid)),
        ("valid_2_segments_exact", _encoded(_index(2 * MIB, MIB))),
        ("valid_max_segment_size", _encoded(_index(MAX_SEGMENT_SIZE + 1, MAX_SEGMENT_SIZE))),
        ("too_large", b"\x00" * (MAX_INDEX_SIZE + 1)),
        ("not_protobuf", b"\xff\xff\xff"),
    ]
    bad: list[tuple[str, pb.SegmentIndexBody]] = []
    v2 = _index(3 * MIB, MIB)
    v2.version = 2
    bad.append(("version_2", v2))
    v0 = _index(3 * MIB, MIB)
    v0.version = 0
    bad.append(("version_absent", v0))
    bad.append(("segment_size_below_min", _index(3 * MIN_SEGMENT_SIZE, MIN_SEGMENT_SIZE - 1, 4)))
    bad.append(("segment_size_above_max", _index(2 * MAX_SEGMENT_SIZE + 2, MAX_SEGMENT_SIZE + 1)))
    bad.append(("one_segment_only", _index(MIB, MIB)))
    bad.append(("too_many_segments", _index(MAX_SEGMENTS * MIB + 1, MIB, 0)))
    bad.append(("one_hash_missing", _index(3 * MIB, MIB, 2)))
    short = _index(3 * MIB, MIB)
    short.manifest_hashes[1] = b"\x01" * 31
    bad.append(("hash_31_bytes", short))
    extra = _index(3 * MIB, MIB)
    extra.manifest_hashes.append(b"\x02" * 32)
    bad.append(("one_hash_too_many", extra))
    seeds = _index(3 * MIB, MIB)
    del seeds.repair_seeds[2]
    bad.append(("repair_seed_missing", seeds))
    long_seed = _index(3 * MIB, MIB)
    long_seed.repair_seeds[0] = long_seed.repair_seeds[0] + b"\x00"
    bad.append(("repair_seed_33_bytes", long_seed))
    grants = _index(3 * MIB, MIB)
    del grants.repair_grants[0]
    bad.append(("repair_grant_missing", grants))
    short_grant = _index(3 * MIB, MIB)
    short_grant.repair_grants[1] = short_grant.repair_grants[1][:63]
    bad.append(("repair_grant_63_bytes", short_grant))
    keys = _index(3 * MIB, MIB)
    del keys.owner_keys[1]
    bad.append(("owner_key_missing", keys))
    short_key = _index(3 * MIB, MIB)
    short_key.owner_keys[2] = short_key.owner_keys[2][:31]
    bad.append(("owner_key_31_bytes", short_key))
    no_keys = _index(3 * MIB, MIB)
    del no_keys.owner_keys[:]
    inputs.append(("valid_without_owner_keys", _encoded(no_keys)))
    inputs += [(name, _encoded(body)) for name, body in bad]
    cases = []
    for name, data in inputs:
        case: dict[str, Any] = {"name": f"index_{name}", "kind": "index"}
        # The too-large input is spelled by its size only, to keep the file small.
        if len(data) > MAX_INDEX_SIZE:
            case["zero_bytes"] = len(data)
        else:
            case["index"] = data.hex()
        try:
            idx = SegmentIndex.decode(data)
        except ProtocolError as exc:
            case["expect"] = exc.code.name
        else:
            case["expect"] = "ok"
            case["file_size"] = idx.file_size
            case["segment_size"] = idx.segment_size
            case["segment_sizes"] = idx.sizes
        cases.append(case)
    return cases


def _verdict(fn: Any) -> str:
    try:
        fn()
    except ProtocolError as exc:
        return exc.code.name
    return "ok"


def _ticket_cases() -> list[dict[str, Any]]:
    index_mh = label_seed("wdp/vectors/index-manifest-hash")
    file_ticket = Ticket(FILE_SEED, index_mh, 3, 8, 3)
    body = _index(3 * MIB + 5, MIB)
    index = SegmentIndex.decode(_encoded(body))
    derived = [
        {"index": i, "ticket": segment_ticket(file_ticket, index, i).encode(), "size": size}
        for i, size in enumerate(index.sizes)
    ]
    wrong_seed = _index(3 * MIB + 5, MIB)
    wrong_seed.repair_seeds[1] = label_seed("wdp/vectors/not-the-repair-seed")
    wrong_grant = _index(3 * MIB + 5, MIB)
    wrong_grant.repair_grants[2] = segment_grant(label_seed("wdp/vectors/not-the-segment"))
    wrong_key = _index(3 * MIB + 5, MIB)
    wrong_key.owner_keys[3] = public_key_of(label_seed("wdp/vectors/not-the-segment"))

    def checked(b: pb.SegmentIndexBody) -> dict[str, Any]:
        decoded = SegmentIndex.decode(_encoded(b))
        return {
            "index": _encoded(b).hex(),
            "expect": _verdict(lambda: check_index(file_ticket, decoded)),
        }

    last = len(index.sizes) - 1
    return [
        {
            "name": "ticket_v3_file",
            "kind": "file_ticket",
            "text": file_ticket.encode(),
            "version": 3,
            "file_seed": FILE_SEED.hex(),
            "manifest_hash": index_mh.hex(),
            "k": 3,
            "n": 8,
            "index_ticket": index_ticket(file_ticket).encode(),
            "index": _encoded(body).hex(),
            "index_check": _verdict(lambda: check_index(file_ticket, index)),
            "segment_tickets": derived,
            "checked_indexes": [
                {"what": "segment 1's repair seed is not the file seed's", **checked(wrong_seed)},
                {"what": "segment 2's repair grant is not the file seed's", **checked(wrong_grant)},
                {"what": "segment 3's owner key is not the file seed's", **checked(wrong_key)},
            ],
            "rebuilt_sizes": [
                {
                    "segment": last,
                    "size": size,
                    "expect": _verdict(lambda s=size: check_segment(index, last, s)),
                }
                for size in (index.sizes[last] - 1, index.sizes[last], index.sizes[last] + 1)
            ],
        }
    ]


def segments_file() -> str:
    return render(
        "Files of several segments (README section 19, coding-and-crypto.md section 2). kind "
        "seeds: segment i's owner seed = HKDF(file seed, 'wdp/v2/segment-seed' || u32be(i)), "
        "its owner key and repair seed; the index wanderer's owner seed = HKDF(repair seed of "
        "the file seed, 'wdp/v2/file-index-seed') and its owner key. kind index: a "
        "SegmentIndexBody payload ('index', or 'zero_bytes': that many zero bytes) and what a "
        "reader's decoder says (19.2): 'ok' with the segment sizes, or the code. kind "
        "file_ticket: a version 3 ticket, the version 2 ticket of its index wanderer, an "
        "index and the verdict of checking it against the file seed (19.4 step 1: every "
        "repair seed, repair grant and owner key), the version 2 ticket of each segment "
        "with the size it must rebuild to; checked_indexes: indexes that decode but fail that "
        "check, with the code; rebuilt_sizes: the verdict on the last segment rebuilding to "
        "each size.",
        [*_seed_cases(), *_index_cases(), *_ticket_cases()],
    )
