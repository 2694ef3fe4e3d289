"""signing.json: domain-separated Ed25519 signatures."""

from __future__ import annotations

from wdp.core.signing import (
    DOMAIN_AUDIT,
    DOMAIN_FETCH,
    DOMAIN_LOCATOR,
    DOMAIN_MANIFEST,
    DOMAIN_RECEIPT,
    DOMAIN_RECORD,
    DOMAIN_REPAIR_GRANT,
    Signer,
    signing_input,
)
from wdp.vectors.common import seed
from wdp.vectors.render import render

DOMAINS: dict[str, bytes] = {
    "DOMAIN_MANIFEST": DOMAIN_MANIFEST,
    "DOMAIN_RECORD": DOMAIN_RECORD,
    "DOMAIN_RECEIPT": DOMAIN_RECEIPT,
    "DOMAIN_LOCATOR": DOMAIN_LOCATOR,
    "DOMAIN_FETCH": DOMAIN_FETCH,
    "DOMAIN_AUDIT": DOMAIN_AUDIT,
    "DOMAIN_REPAIR_GRANT": DOMAIN_REPAIR_GRANT,
}


def signing_file() -> str:
    cases = []
    for i, (const, domain) in enumerate(DOMAINS.items()):
        s = seed(i + 1)
        signer = Signer(s)
        for variant, body in (
            ("empty", b""),
            ("text", b"wdp test vector body for " + domain),
        ):
            cases.append(
                {
                    "name": f"{const.lower().removeprefix('domain_')}_{variant}",
                    "domain_constant": const,
                    "domain": domain.decode(),
                    "body": body.hex(),
                    "signing_input": signing_input(domain, body).hex(),
                    "seed": s.hex(),
                    "public_key": signer.public_key.hex(),
                    "signature": signer.sign(domain, body).hex(),
                }
            )
    return render(
        "Domain-separated Ed25519 signatures. signing_input = u8(len(domain)) || domain || "
        "u64be(len(body)) || body; signature = Ed25519(seed, signing_input). domain is ASCII.",
        cases,
    )
