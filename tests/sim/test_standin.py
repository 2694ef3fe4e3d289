"""The cheap-crypto switch: a scoped stand-in scheme, with Ed25519 everywhere else."""

from __future__ import annotations

from wdp.core.signing import ED25519, Signer, current_scheme, use_scheme, verify
from wdp.sim.standin import STANDIN


def test_standin_is_scoped_and_signers_keep_their_scheme() -> None:
    seed = bytes(range(32))
    real = Signer(seed)
    with use_scheme(STANDIN):
        assert current_scheme() is STANDIN
        fake = Signer(seed)
        sig = fake.sign(b"wdp/v1/receipt", b"body")
        assert len(fake.public_key) == 32 and len(sig) == 64
        assert verify(fake.public_key, b"wdp/v1/receipt", b"body", sig)
        assert not verify(fake.public_key, b"wdp/v1/record", b"body", sig)
        assert not verify(fake.public_key, b"wdp/v1/receipt", b"bodz", sig)
    assert current_scheme() is ED25519
    assert fake.public_key != real.public_key
    assert not verify(fake.public_key, b"wdp/v1/receipt", b"body", sig)  # not Ed25519
    rsig = real.sign(b"wdp/v1/receipt", b"body")
    assert verify(real.public_key, b"wdp/v1/receipt", b"body", rsig)
