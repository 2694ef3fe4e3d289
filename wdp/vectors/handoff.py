"""handoff.json: whole /wdp/migrate/1.0 transcripts, every frame and timer in order.

Two sorts of case: real runs, where both sides are the reference sessions over a
perfect link, and scripted runs, where one side is a reference session and the other
a fixed list of frames and timer events.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
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

SCRIPTED_NOW_MS = T0_MS + 1000  # the scripted runs are all about hop 1, node 1 -> node 2

# (name, note, the scripted side's frames and timer events)
ScriptedRun = tuple[str, str, list[Event]]


@dataclasses.dataclass
class RealRun:
    """A handoff between the reference sessions, received by node ``local``."""

    name: str
    note: str
    offer: Offer
    shard: bytes  # what the sender sends
    local: int
    remote: bytes
    replay: list[str]
    rechunk: Callable[[bytes], list[bytes]] | None = None
    state: dict[str, Any] | None = None  # the receiver's local state before the stream


# ---- real runs -------------------------------------------------------------------


def _successful_runs(scenario: Scenario) -> list[RealRun]:
    """Hop 0 and hop 1 of the shared chain; hop 1 also with the shard re-chunked."""
    w = scenario.wanderer
    shard = w.shards[0]
    offer0, offer1 = scenario.offers[0], scenario.offers[1]
    n1 = Signer(seed(1)).public_key
    both = ["sender", "receiver"]
    return [
        RealRun(
            "genesis_hop0",
            "owner launches shard 0 to node 1",
            offer0,
            shard,
            1,
            w.manifest.value.owner_key,
            both,
        ),
        RealRun(
            "ttl_hop1",
            "node 1 passes shard 0 to node 2 (one Data message)",
            offer1,
            shard,
            2,
            n1,
            both,
        ),
        RealRun(
            "ttl_hop1_two_chunks",
            "as ttl_hop1, the shard delivered as two Data messages",
            offer1,
            shard,
            2,
            n1,
            ["receiver"],
            rechunk=split_data([8]),
        ),
        RealRun(
            "ttl_hop1_three_chunks",
            "as ttl_hop1, the shard delivered as Data messages of 1, 9 and 9 bytes",
            offer1,
            shard,
            2,
            n1,
            ["receiver"],
            rechunk=split_data([1, 9]),
        ),
    ]


def _refused_runs(scenario: Scenario) -> list[RealRun]:
    """Hop 1 refused by the receiver: a bad manifest signature, a tampered shard."""
    shard = scenario.wanderer.shards[0]
    offer1 = scenario.offers[1]
    n1 = Signer(seed(1)).public_key
    man = offer1.manifest
    bad_manifest = dataclasses.replace(
        offer1, manifest=Signed(man.body, flip_bit(man.signature, 0), man.value)
    )
    return [
        RealRun(
            "reject_bad_manifest",
            "the offer's manifest signature has a flipped bit",
            bad_manifest,
            shard,
            2,
            n1,
            ["sender", "receiver"],
        ),
        RealRun(
            "reject_shard_hash_mismatch",
            "the sender sends a shard with its first bit flipped",
            offer1,
            flip_bit(shard, 0),
            2,
            n1,
            ["sender", "receiver"],
        ),
    ]


def _retried_offer_runs(scenario: Scenario) -> list[RealRun]:
    """Hop 1 offered again to node 2, which took it already and lost its receipt."""
    shard = scenario.wanderer.shards[0]
    offer1 = scenario.offers[1]
    link1 = scenario.transcripts[1].link
    assert link1 is not None
    return [
        RealRun(
            "retried_offer",
            "node 2 still carries shard 0 from this very record (its receipt was lost): "
            "it answers the identical Offer with the Receipt it signed before",
            offer1,
            shard,
            2,
            Signer(seed(1)).public_key,
            ["sender", "receiver"],
            state={"carries": [carried(offer1, link1, shard)]},
        )
    ]


def _real_case(run: RealRun) -> dict[str, Any]:
    now_ms = T0_MS + 1000 * run.offer.record.value.hop
    t = run_handoff(
        run.offer,
        run.shard,
        Signer(seed(run.local)),
        carrier_from_state(seed(run.local), run.state, now_ms),
        now_ms,
        remote_peer=run.remote,
        rechunk=run.rechunk,
    )
    code = t.receiver.failure or t.sender.failure
    extra = {} if run.state is None else {"receiver_state": run.state}
    return {
        **extra,
        "name": run.name,
        "note": run.note,
        "now_ms": now_ms,
        "receiver_seed": seed(run.local).hex(),
        "receiver_peer": Signer(seed(run.local)).public_key.hex(),
        "remote_peer": run.remote.hex(),
        "sender_shard": run.shard.hex(),
        "replay": run.replay,
        "frames": [frame_entry(d, f) for d, f in t.frames],
        "outcome": {
            "sender_state": t.sender.state.name,
            "receiver_state": t.receiver.state.name,
            "code": None if code is None else code.code.name,
        },
    }


# ---- scripted runs ---------------------------------------------------------------

# Receiver runs whose one store request succeeds only after the last event.
LATE_STORE = {"receiver_store_timeout", "sender_rejects_while_storing"}


def _scripted_receiver_runs(scenario: Scenario) -> list[ScriptedRun]:
    """A reference receiver (node 2) facing a sender that misbehaves or falls silent."""
    shard = scenario.wanderer.shards[0]
    offer = frame_of(scenario.offers[1])
    now_ms = SCRIPTED_NOW_MS
    gap = [frame_of(Data(0, shard[:5])), frame_of(Data(6, shard[6:]))]
    return [
        (
            "data_offset_gap",
            "the sender skips byte 5: Data at offset 0 (5 bytes), then at offset 6",
            [("frame", offer), *(("frame", f) for f in gap)],
        ),
        (
            "data_past_shard_size",
            "one Data of shard_size + 1 bytes",
            [("frame", offer), ("frame", frame_of(Data(0, shard + b"\x00")))],
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
            [("frame", offer), ("timer", now_ms + 30_000)],
        ),
        (
            "receiver_store_timeout",
            "the store does not finish within STORE_TIMEOUT (20 s) of the last byte",
            [("frame", offer), ("frame", frame_of(Data(0, shard))), ("timer", now_ms + 20_000)],
        ),
        (
            "sender_rejects_while_storing",
            "the sender gives up (Reject TIMEOUT) while the receiver stores",
            [
                ("frame", offer),
                ("frame", frame_of(Data(0, shard))),
                ("frame", frame_of(Reject(RejectCode.TIMEOUT, ""))),
            ],
        ),
        (
            "receiver_done_timeout",
            "no Done within DONE_TIMEOUT (10 s) of the Receipt: the receiver keeps the shard",
            [("frame", offer), ("frame", frame_of(Data(0, shard))), ("timer", now_ms + 10_000)],
        ),
    ]


def _scripted_sender_runs(scenario: Scenario) -> list[ScriptedRun]:
    """A reference sender (node 1, hop 1) facing a receiver that answers wrongly or not at all."""
    offer1 = scenario.offers[1]
    link1, link2 = scenario.transcripts[1].link, scenario.transcripts[2].link
    assert link1 is not None and link2 is not None
    now_ms = SCRIPTED_NOW_MS
    forged = Signed(
        link1.receipt.body,
        Signer(seed(OUTSIDER)).sign(DOMAIN_RECEIPT, link1.receipt.body),
        link1.receipt.value,
    )
    accept = frame_of(Accept(offer1.record.hash))
    return [
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


def _scripted_case(
    scenario: Scenario,
    name: str,
    note: str,
    frames: list[dict[str, Any]],
    replay: list[str],
    outcome: dict[str, Any],
    extra: dict[str, Any],
) -> dict[str, Any]:
    return {
        **extra,
        "name": name,
        "note": note,
        "now_ms": SCRIPTED_NOW_MS,
        "receiver_seed": seed(2).hex(),
        "receiver_peer": Signer(seed(2)).public_key.hex(),
        "remote_peer": Signer(seed(1)).public_key.hex(),
        "sender_shard": scenario.wanderer.shards[0].hex(),
        "replay": replay,
        "frames": frames,
        "outcome": outcome,
    }


def _scripted_receiver_case(scenario: Scenario, run: ScriptedRun) -> dict[str, Any]:
    name, note, events = run
    late = name in LATE_STORE
    n1 = Signer(seed(1)).public_key
    frames, recv = script_receiver(2, n1, None, SCRIPTED_NOW_MS, events, late_store=late)
    extra: dict[str, Any] = {}
    if late:
        extra["store"] = "late"
        note += "; the store then succeeds late and the receiver deletes that copy"
    outcome = {
        "sender_state": None,
        "receiver_state": recv.state.name,
        "code": None if recv.failure is None else recv.failure.code.name,
    }
    return _scripted_case(scenario, name, note, frames, ["receiver"], outcome, extra)


def _scripted_sender_case(scenario: Scenario, run: ScriptedRun) -> dict[str, Any]:
    name, note, events = run
    shard = scenario.wanderer.shards[0]
    frames, sender = script_sender(scenario.offers[1], shard, SCRIPTED_NOW_MS, events)
    outcome = {
        "sender_state": sender.state.name,
        "receiver_state": None,
        "code": None if sender.failure is None else sender.failure.code.name,
    }
    return _scripted_case(scenario, name, note, frames, ["sender"], outcome, {})


def handoff_file(scenario: Scenario) -> str:
    real_runs = [
        *_successful_runs(scenario),
        *_refused_runs(scenario),
        *_retried_offer_runs(scenario),
    ]
    cases = [_real_case(run) for run in real_runs]
    cases += [_scripted_receiver_case(scenario, r) for r in _scripted_receiver_runs(scenario)]
    cases += [_scripted_sender_case(scenario, r) for r in _scripted_sender_runs(scenario)]
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
