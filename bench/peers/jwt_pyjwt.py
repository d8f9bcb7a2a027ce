"""Peer: PyJWT (with `cryptography`) — jwt.decode with a key from a JWKS loaded once (PyJWKSet;
the per-token kid lookup is what PyJWKClient does after its cache is warm), RS256 only, exact
issuer and audience, required claims, 60 s leeway (fedbroker's LEEWAY).
    python jwt_pyjwt.py INDIR [SECONDS] [WARMUP_SECONDS]"""
import json

import jwt

from common import args, must_fail, report, time_loop

read, manifest, seconds, warmup = args()
token = read("token.jwt")
tampered = read("token-tampered.jwt")
jwk_set = jwt.PyJWKSet.from_dict(json.loads(read("jwks.json")))
ISSUER = manifest["jwt"]["issuer"]
REQUIRE = {"require": ["iss", "aud", "sub", "iat", "exp"]}


def verify(tok, audience=manifest["jwt"]["audience"]):
    kid = jwt.get_unverified_header(tok)["kid"]
    return jwt.decode(
        tok,
        key=jwk_set[kid],
        algorithms=["RS256"],
        audience=audience,
        issuer=ISSUER,
        options=REQUIRE,
        leeway=60,
    )


assert verify(token)["sub"] == manifest["jwt"]["subject"]
must_fail("the tampered JWT", lambda: verify(tampered))
must_fail("a JWT for another audience", lambda: verify(token, "another-audience"))

report("pyjwt", "PyJWT", time_loop(warmup, seconds, lambda: verify(token)))
