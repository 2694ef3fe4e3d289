"""Errors: every exception class WDP defines is a WdpError, and a protocol failure
says whose fault it is: the peer's (RemoteProtocolError), the caller's
(LocalProtocolError), or nobody's (a plain ProtocolError: a refusal with a wire code)."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import pathlib
import re

import pytest

import wdp
from wdp.core.carrier import CarrierParams
from wdp.core.errors import (
    LocalProtocolError,
    ProtocolError,
    RejectCode,
    RemoteProtocolError,
    WdpError,
)
from wdp.core.fetch import (
    FetchClientSession,
    FetchRequest,
    FetchServerSession,
    Header,
    NonceCache,
    Request,
    make_fetch_request,
)
from wdp.core.framing import encode_frame, encode_uvarint
from wdp.core.limits import MAX_FRAME_SIZE
from wdp.core.locator import validate_locator
from wdp.core.messages import Data, Message, Receipt, Reject, encode_message
from wdp.core.migrate import ReceiverSession, SenderSession
from wdp.core.objects import CustodyRecord, Manifest, Signed
from wdp.core.objects import Receipt as ReceiptBody
from wdp.core.signing import Signer

from .helpers import T0, Node, launch, make_node, make_wanderer, seed
from .test_fetch import NOW, carried, flip, frame, lookup_of, resigned

# ---- one base --------------------------------------------------------------------------

PACKAGE = pathlib.Path(wdp.__file__).resolve().parent
ERROR_NAME = re.compile(r"(Error|Exception)$")


def error_classes() -> list[tuple[str, str]]:
    """(module, qualified name) of every class named *Error or *Exception under wdp/."""
    found: list[tuple[str, str]] = []

    def visit(body: list[ast.stmt], module: str, prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                qualname = prefix + node.name
                if ERROR_NAME.search(node.name):
                    found.append((module, qualname))
                visit(node.body, module, qualname + ".")

    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        if "proto" in parts:  # generated protobuf code
            continue
        visit(ast.parse(path.read_text(), filename=str(path)).body, ".".join(parts), "")
    return found


ERROR_CLASSES = error_classes()


def test_the_source_walk_finds_the_error_classes() -> None:
    names = {name for _, name in ERROR_CLASSES}
    assert {"WdpError", "ProtocolError", "CryptoError", "OwnerError", "ClientError"} <= names
    assert len(ERROR_CLASSES) > 15


@pytest.mark.parametrize(("module", "qualname"), ERROR_CLASSES, ids=lambda v: v)
def test_every_error_class_is_a_wdp_error(module: str, qualname: str) -> None:
    obj: object = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    assert isinstance(obj, type) and issubclass(obj, WdpError), (
        f"{module}.{qualname} does not derive from WdpError: {getattr(obj, '__mro__', obj)}"
    )


def test_no_exception_class_hides_under_another_name() -> None:
    """Any other class under wdp/ that is an exception must be a WdpError too."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        if "proto" in parts:
            continue
        module = importlib.import_module(".".join(parts))
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            cls = getattr(module, node.name, None) if isinstance(node, ast.ClassDef) else None
            exception = isinstance(cls, type) and issubclass(cls, BaseException)
            if exception and not issubclass(cls, WdpError):
                offenders.append(f"{module.__name__}.{node.name}")
    assert not offenders


# ---- the migrate handoff ---------------------------------------------------------------


def two_nodes(**params):
    """``a`` carries shard 0 of a wanderer (hop 0 done); ``b`` is the next carrier."""
    w = make_wanderer()
    a = make_node(1)
    b = make_node(2, CarrierParams(**params) if params else None)
    assert launch(w, 0, a).reject_code is None
    return w, a, b


def offer_from(a: Node, b: Node, **record_changes):
    (held,) = a.carrier.held.values()
    offer = a.carrier.next_offer(held, b.peer, held.reason, T0 + 1)
    if record_changes:
        value = dataclasses.replace(offer.record.value, **record_changes)
        offer = dataclasses.replace(offer, record=Signed.create(value, a.signer))
    return offer


def msg_frame(msg: Message) -> bytes:
    return encode_frame(encode_message(msg), MAX_FRAME_SIZE)


def receiver_after(b: Node, a: Node, data: bytes) -> ReceiverSession:
    recv = ReceiverSession(b.signer, b.carrier, T0 + 1, remote_peer=a.peer)
    recv.receive_data(data, T0 + 1)
    assert recv.finished and recv.failure is not None
    return recv


REMOTE_FRAMES = {
    "not protobuf": lambda a, b: encode_frame(b"\xff\xff\xff", 99),
    "non-minimal varint": lambda a, b: b"\x80\x00",
    "frame too large": lambda a, b: encode_uvarint(MAX_FRAME_SIZE + 1),
    "data before the offer": lambda a, b: msg_frame(Data(0, b"x")),
    "unsupported version": lambda a, b: msg_frame(offer_from(a, b, version=2)),
    "skipped hop": lambda a, b: msg_frame(offer_from(a, b, hop=2)),
    "offer for another node": lambda a, b: msg_frame(offer_from(a, make_node(3))),
    "bad locator secret": lambda a, b: msg_frame(
        dataclasses.replace(offer_from(a, b), locator_secret=seed(42))
    ),
}


@pytest.mark.parametrize("make", REMOTE_FRAMES.values(), ids=REMOTE_FRAMES.keys())
def test_bad_bytes_from_the_sender_are_the_senders_fault(make) -> None:
    _, a, b = two_nodes()
    recv = receiver_after(b, a, make(a, b))
    assert isinstance(recv.failure, RemoteProtocolError), repr(recv.failure)


def test_tampered_data_is_the_senders_fault() -> None:
    w, a, b = two_nodes()
    offer = offer_from(a, b)
    recv = ReceiverSession(b.signer, b.carrier, T0 + 1, remote_peer=a.peer)
    recv.receive_data(msg_frame(offer), T0 + 1)
    shard = flip(w.shards[0], 0)
    recv.receive_data(msg_frame(Data(0, shard)), T0 + 1)
    assert isinstance(recv.failure, RemoteProtocolError)
    assert recv.failure.code is RejectCode.SHARD_HASH_MISMATCH


def test_a_forged_receipt_is_the_receivers_fault() -> None:
    w, a, b = two_nodes()
    offer = offer_from(a, b)
    sender = SenderSession(offer, w.shards[0])
    sender.start(T0 + 1)
    body = ReceiptBody(offer.record.hash, b.peer, offer.record.value.shard_hash, 0)
    forged = Signed.create(body, Signer(seed(77)))  # not b's key
    sender.receive_data(msg_frame(Receipt(forged)), T0 + 1)
    assert isinstance(sender.failure, RemoteProtocolError)
    assert sender.failure.code is RejectCode.BAD_RECEIPT


def signed_objects() -> dict[str, tuple[bytes, type]]:
    w, a, _ = two_nodes()
    (held,) = a.carrier.held.values()
    return {
        "manifest": (w.manifest.to_bytes(), Manifest),
        "record": (held.last.record.to_bytes(), CustodyRecord),
        "receipt": (held.last.receipt.to_bytes(), ReceiptBody),
    }


@pytest.mark.parametrize("name", ["manifest", "record", "receipt"])
def test_corrupted_signed_objects_fail_to_decode_with_a_remote_error(name: str) -> None:
    data, kind = signed_objects()[name]
    signed = Signed.from_bytes(data, kind)  # the intact bytes decode
    corrupted = [
        data[: len(data) // 2],  # truncated
        data + b"\x07",  # a stray byte: field 0
        Signed(signed.body, signed.signature[:-1], signed.value).to_bytes(),  # short signature
        Signed(flip(signed.body, 1), signed.signature, signed.value).to_bytes(),  # version 0
    ]
    for bad in corrupted:
        with pytest.raises(RemoteProtocolError):
            Signed.from_bytes(bad, kind)


def test_a_bad_locator_is_a_remote_error() -> None:
    with pytest.raises(RemoteProtocolError):
        validate_locator("/wdp/not-a-key", b"", 0)
    with pytest.raises(RemoteProtocolError):
        validate_locator("/wdp/" + "A" * 43, b"\x0a\x01", 0)


# ---- the fetch protocol ------------------------------------------------------------


def frame_of(request: Signed[FetchRequest]) -> bytes:
    return frame(Request(request))


def test_bad_fetch_requests_are_the_clients_fault() -> None:
    s = carried()
    good = s.request()
    bad_requests = {
        RejectCode.MALFORMED: encode_frame(b"\xff\xff", MAX_FRAME_SIZE),
        RejectCode.UNAUTHORIZED: frame_of(resigned(good, Signer(seed(99)))),
        RejectCode.WRONG_RECIPIENT: frame_of(s.request(to=s.c)),
        RejectCode.STALE_HOP: frame_of(s.request(now=NOW - 3600)),
        RejectCode.NOT_HELD: frame_of(s.request(index=1)),
    }
    for code, data in bad_requests.items():
        server = FetchServerSession(
            local_peer=s.b.peer, lookup=lookup_of(s.b), nonces=NonceCache(), now=NOW
        )
        server.receive_data(data, NOW)
        assert isinstance(server.failure, RemoteProtocolError), (code, repr(server.failure))
        assert server.failure.code is code


def test_a_bad_header_is_the_carriers_fault() -> None:
    s = carried()
    other = carried(payload=b"another wanderer " * 100)
    (held,) = s.b.carrier.held.values()
    (wrong,) = other.b.carrier.held.values()
    client = FetchClientSession(s.request())
    client.start(NOW)
    client.receive_data(frame(Header(held.manifest, wrong.last.record)), NOW)
    assert isinstance(client.failure, RemoteProtocolError)
    assert client.failure.code is RejectCode.BAD_CHAIN


# ---- the caller's mistakes -------------------------------------------------------------


def test_caller_misuse_is_a_local_error() -> None:
    w, a, b = two_nodes()
    offer = offer_from(a, b)
    with pytest.raises(LocalProtocolError):
        SenderSession(offer, w.shards[0] + b"!")  # not the manifest's shard size
    sender = SenderSession(offer, w.shards[0])
    sender.start(T0)
    with pytest.raises(LocalProtocolError):
        sender.start(T0)
    with pytest.raises(LocalProtocolError):
        encode_frame(bytes(100), 99)
    (held,) = a.carrier.held.values()
    with pytest.raises(LocalProtocolError):
        b.carrier.next_offer(held, a.peer, held.reason, T0)  # b does not carry it

    s = carried()
    client = FetchClientSession(s.request())
    client.start(NOW)
    with pytest.raises(LocalProtocolError):
        client.start(NOW)
    with pytest.raises(LocalProtocolError):
        make_fetch_request(seed(99), s.wid, 0, NOW, bytes(16), carrier=s.b.peer)
    server = FetchServerSession(
        local_peer=s.b.peer, lookup=lookup_of(s.b), nonces=NonceCache(), now=NOW
    )
    with pytest.raises(LocalProtocolError):
        server.shard_loaded(b"", NOW)  # nothing was asked to load


# ---- nobody's fault: refusals with a wire code ------------------------------------------


@pytest.mark.parametrize(
    "params, code",
    [
        ({"capacity": 100}, RejectCode.CAPACITY),
        ({"max_inbound": 0}, RejectCode.BUSY),
    ],
)
def test_admission_refusals_are_plain_protocol_errors(params, code) -> None:
    _, a, b = two_nodes(**params)
    recv = receiver_after(b, a, msg_frame(offer_from(a, b)))
    assert type(recv.failure) is ProtocolError and recv.failure.code is code


def test_shutting_down_the_peers_reject_and_timeouts_are_plain_protocol_errors() -> None:
    w, a, b = two_nodes()
    b.carrier.drain(T0)
    recv = receiver_after(b, a, msg_frame(offer_from(a, b)))
    assert type(recv.failure) is ProtocolError and recv.failure.code is RejectCode.SHUTTING_DOWN

    sender = SenderSession(offer_from(a, b), w.shards[0])
    sender.start(T0)
    sender.receive_data(msg_frame(Reject(RejectCode.BUSY, "busy")), T0)
    assert type(sender.failure) is ProtocolError and sender.failure.code is RejectCode.BUSY

    sender = SenderSession(offer_from(a, b), w.shards[0])
    sender.start(T0)
    deadline = sender.get_timer()
    assert deadline is not None
    sender.handle_timer(deadline)
    assert type(sender.failure) is ProtocolError and sender.failure.code is RejectCode.TIMEOUT
