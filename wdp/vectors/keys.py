"""keys.json: Ed25519 key pairs from seeds, their libp2p PeerIds and X25519 keys."""

from __future__ import annotations

from wdp.core import crypto
from wdp.core.signing import Signer
from wdp.vectors.common import OWNER_SEED, seed
from wdp.vectors.render import render


def peer_id_bytes(public_key: bytes) -> bytes:
    """libp2p PeerId of an Ed25519 key: identity multihash of the protobuf PublicKey."""
    key_pb = bytes([0x08, 0x01, 0x12, 0x20]) + public_key  # {Type: Ed25519 (1), Data: key}
    return bytes([0x00, len(key_pb)]) + key_pb  # multihash code 0x00 (identity), length


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58btc(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rem = divmod(number, 58)
        out = _B58[rem] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def keys_file() -> str:
    cases = []
    seeds = [(f"seed_{i:02x}", seed(i)) for i in (0, 1, 2, 3, 4, 5, 0xFF)]
    seeds.append(("owner_seed_00_to_1f", OWNER_SEED))
    for name, s in seeds:
        pk = Signer(s).public_key
        pid = peer_id_bytes(pk)
        cases.append(
            {
                "name": name,
                "seed": s.hex(),
                "ed25519_public_key": pk.hex(),
                "peer_id_multihash": pid.hex(),
                "peer_id": base58btc(pid),
                "x25519_public_key": crypto.owner_x25519_public_key(pk).hex(),
                "x25519_private_key": crypto.owner_x25519_private_key(s).hex(),
            }
        )
    return render(
        "Ed25519 key pairs from seeds (the seed is the RFC 8032 private key). peer_id is the "
        "libp2p PeerId: identity multihash (0x00, length 0x24) of the protobuf PublicKey "
        "{Type=Ed25519(1), Data=key}, i.e. 00 24 08 01 12 20 || key, in base58btc. "
        "x25519_* are the Curve25519 keys converted from the Ed25519 pair "
        "(crypto_sign_ed25519_pk_to_curve25519 / _sk_to_curve25519), used for sealing to "
        "an owner.",
        cases,
    )
