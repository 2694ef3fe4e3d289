"""handoff.json: whole /wdp/migrate/1.0 transcripts, every frame and timer in order."""

from __future__ import annotations

import dataclasses
from typing import Any

from wdp.core.errors import RejectCode
from wdp.core.messages import Accept, Data, Offer, Receipt, Reject
from wdp.core.objects import Signed
from wdp.core.signing import DOMAIN_RECEIPT, Signer
from wdp.vectors.carriers import carried, carrier_from_state
from wdp.vectors.common import T0_MS, seed
from wdp.vectors.frames import frame_of
from wdp.vectors.mutate import flip_bit
from wdp.vectors.render import render
from wdp.vectors.runs import (
    Event,
    frame_entry,
    run_handoff,
    script_receiver,
    script_sender,
    split_data,
)
from wdp.vectors.scenario import OUTSIDER, Scenario


def _scripted_handoff_cases(scenario: Scenario) -> list[dict[str, Any]]:
    """Transcripts where one side is the reference session and the other a script."""
    w = scenario.wanderer
    shard = w.shards[0]
    offer1 = scenario.offers[1]
    link1, link2 = scenario.transcripts[1].link, scenario.transcripts[2].link
    assert link1 is not None and link2 is not None
    n1 = Signer(seed(1)).public_key
    now_ms = T0_MS + 1000
    forged = Signed(
        link1.receipt.body,
        Signer(seed(OUTSIDER)).sign(DOMAIN_RECEIPT, link1.receipt.body),
        link1.receipt.value,
    )
    accept = frame_of(Accept(offer1.record.hash))
    gap = [frame_of(Data(0, shard[:5])), frame_of(Data(6, shard[6:]))]
    receiver_runs: list[tuple[str, str, list[Event]]] = [
        (
            "data_offset_gap",
            "the sender skips byte 5: Data at offset 0 (5 bytes), then at offset 6",
            [("frame", frame_of(offer1)), *(("frame", f) for f in gap)],
        ),
        (
            "data_past_shard_size",
            "one Data of shard_size + 1 bytes",
            [("frame", frame_of(offer1)), ("frame", frame_of(Data(0, shard + b"\x00")))],
        ),
        (
            "reject_before_offer",
            "the sender's first frame is a Reject (6.6: any other message in AWAIT_OFFER)",
            [("frame", frame_of(Reject(RejectCode.BUSY, "")))],
        ),
        (
            "receiver_offer_timeout",
            "no Offer within OFFER_TIMEOUT (10 s) of the stream",
            [("timer", now_ms + 10_000)],
        ),
        (
            "receiver_data_idle_timeout",
            "no Data within DATA_IDLE_TIMEOUT (30 s) of the Accept",
            [("frame", frame_of(offer1)), ("timer", now_ms + 30_000)],
        ),
        (
            "receiver_store_timeout",
            "the store does not finish within STORE_TIMEOUT (20 s) of the last byte",
            [
                ("frame", frame_of(offer1)),
                ("frame", frame_of(Data(0, shard))),
                ("timer", now_ms + 20_000),
            ],
        ),
        (
            "sender_rejects_while_storing",
            "the sender gives up (Reject TIMEOUT) while the receiver stores",
            [
                ("frame", frame_of(offer1)),
                ("frame", frame_of(Data(0, shard))),
                ("frame", frame_of(Reject(RejectCode.TIMEOUT, ""))),
            ],
        ),
        (
            "receiver_done_timeout",
            "no Done within DONE_TIMEOUT (10 s) of the Receipt: the receiver keeps the shard",
            [
                ("frame", frame_of(offer1)),
                ("frame", frame_of(Data(0, shard))),
                ("timer", now_ms + 10_000),
            ],
        ),
    ]
    sender_runs: list[tuple[str, str, list[Event]]] = [
        (
            "sender_refuses_receipt_signed_by_another_key",
            "the Receipt for this record is signed by node 5, not by to_peer (6.8 step 3)",
            [("frame", accept), ("frame", frame_of(Receipt(forged)))],
        ),
        (
            "sender_refuses_receipt_for_another_record",
            "the Receipt is node 3's for hop 2 (6.8 step 1)",
            [("frame", accept), ("frame", frame_of(Receipt(link2.receipt)))],
        ),
        (
            "sender_offer_timeout",
            "no answer within OFFER_TIMEOUT (10 s) of the Offer",
            [("timer", now_ms + 10_000)],
        ),
        (
            "sender_receipt_deadline",
            "no Receipt by the receipt deadline: 30 s + 19 B / 262144 B/s after the Accept, "
            "rounded up to 30001 ms (not yet at 30000 ms)",
            [("frame", accept), ("timer", now_ms + 30_001)],
        ),
    ]
    cases: list[dict[str, Any]] = []

    def add(
        name: str,
        note: str,
        frames: list[dict[str, Any]],
        replay: list[str],
        extra: dict[str, Any],
        **kw: Any,
    ) -> None:
        cases.append(
            {
                **extra,
                "name": name,
                "note": note,
                "now_ms": now_ms,
                "receiver_seed": seed(2).hex(),
                "receiver_peer": Signer(seed(2)).public_key.hex(),
                "remote_peer": n1.hex(),
                "sender_shard": shard.hex(),
                "replay": replay,
                "frames": frames,
                "outcome": kw,
            }
        )

    late = {"receiver_store_timeout", "sender_rejects_while_storing"}
    for name, note, events in receiver_runs:
        frames, recv = script_receiver(2, n1, None, now_ms, events, late_store=name in late)
        code = None if recv.failure is None else recv.failure.code.name
        extra: dict[str, Any] = {}
        if name in late:
            extra["store"] = "late"
            note += "; the store then succeeds late and the receiver deletes that copy"
        add(
            name,
            note,
            frames,
            ["receiver"],
            extra,
            sender_state=None,
            receiver_state=recv.state.name,
            code=code,
        )
    for name, note, events in sender_runs:
        frames, sender = script_sender(offer1, shard, now_ms, events)
        code = None if sender.failure is None else sender.failure.code.name
        add(
            name,
            note,
            frames,
            ["sender"],
            {},
            sender_state=sender.state.name,
            receiver_state=None,
            code=code,
        )
    return cases


def handoff_file(scenario: Scenario) -> str:
    w = scenario.wanderer
    shard = w.shards[0]
    owner_key = w.manifest.value.owner_key
    offer0, offer1 = scenario.offers[0], scenario.offers[1]
    n1 = Signer(seed(1)).public_key
    bad_manifest = dataclasses.replace(
        offer1,
        manifest=Signed(
            offer1.manifest.body, flip_bit(offer1.manifest.signature, 0), offer1.manifest.value
        ),
    )
    tampered = flip_bit(shard, 0)
    runs: list[tuple[str, str, Offer, bytes, int, bytes, list[str], Any]] = [
        (
            "genesis_hop0",
            "owner launches shard 0 to node 1",
            offer0,
            shard,
            1,
            owner_key,
            ["sender", "receiver"],
            None,
        ),
        (
            "ttl_hop1",
            "node 1 passes shard 0 to node 2 (one Data message)",
            offer1,
            shard,
            2,
            n1,
            ["sender", "receiver"],
            None,
        ),
        (
            "ttl_hop1_two_chunks",
            "as ttl_hop1, the shard delivered as two Data messages",
            offer1,
            shard,
            2,
            n1,
            ["receiver"],
            split_data([8]),
        ),
        (
            "ttl_hop1_three_chunks",
            "as ttl_hop1, the shard delivered as Data messages of 1, 9 and 9 bytes",
            offer1,
            shard,
            2,
            n1,
            ["receiver"],
            split_data([1, 9]),
        ),
        (
            "reject_bad_manifest",
            "the offer's manifest signature has a flipped bit",
            bad_manifest,
            shard,
            2,
            n1,
            ["sender", "receiver"],
            None,
        ),
        (
            "reject_shard_hash_mismatch",
            "the sender sends a shard with its first bit flipped",
            offer1,
            tampered,
            2,
            n1,
            ["sender", "receiver"],
            None,
        ),
    ]
    link1 = scenario.transcripts[1].link
    assert link1 is not None
    retried_state = {"carries": [carried(offer1, link1, shard)]}
    states = {"retried_offer": retried_state}
    runs.append(
        (
            "retried_offer",
            "node 2 still carries shard 0 from this very record (its receipt was lost): "
            "it answers the identical Offer with the Receipt it signed before",
            offer1,
            shard,
            2,
            n1,
            ["sender", "receiver"],
            None,
        )
    )
    cases = []
    for name, note, offer, data, local, remote, replay, rechunk in runs:
        hop = offer.record.value.hop
        now_ms = T0_MS + 1000 * hop
        state = states.get(name)
        t = run_handoff(
            offer,
            data,
            Signer(seed(local)),
            carrier_from_state(seed(local), state, now_ms),
            now_ms,
            remote_peer=remote,
            rechunk=rechunk,
        )
        code = t.receiver.failure or t.sender.failure
        extra = {} if state is None else {"receiver_state": state}
        cases.append(
            {
                **extra,
                "name": name,
                "note": note,
                "now_ms": now_ms,
                "receiver_seed": seed(local).hex(),
                "receiver_peer": Signer(seed(local)).public_key.hex(),
                "remote_peer": remote.hex(),
                "sender_shard": data.hex(),
                "replay": replay,
                "frames": [frame_entry(d, f) for d, f in t.frames],
                "outcome": {
                    "sender_state": t.sender.state.name,
                    "receiver_state": t.receiver.state.name,
                    "code": None if code is None else code.code.name,
                },
            }
        )
    cases += _scripted_handoff_cases(scenario)
    return render(
        "Full /wdp/migrate/1.0 transcripts: every frame in order, dir s2r (sender to "
        "receiver) or r2s. All frames happen at now_ms (the receipt's time_ms). An entry with "
        "dir 'timer' is a clock event instead: the clock of side ('sender' or 'receiver') "
        "reaches at_ms, and that side's timer fires (at at_ms - 1 it does not yet); the frames "
        "after it are that side's answer. The receiver (seed receiver_seed, stream "
        "authenticated as remote_peer) stores the shard successfully when asked; "
        "receiver_state, when given, is its local state before the stream, in the format of "
        "custody.json. replay lists the sides whose frames the reference sessions reproduce "
        "exactly, fed the other side's frames (the sender always sends one Data per 1 MiB; "
        "a receiver accepts any in-order chunking of 1 byte to 1 MiB, so the re-chunked "
        "cases replay the receiver only; a side whose outcome state is null is a script, "
        "not a reference session). store 'late', when given: the receiver's one store request "
        "succeeds only after the last entry, when the receiver is no longer storing; it must "
        "then delete the stored copy and send nothing (README 6.6). Reject details are "
        "informative: implementations compare codes.",
        cases,
    )
