// Peer: npm `jose` — jwtVerify with a cached local JWKS (createLocalJWKSet: kid lookup, key
// imported once and cached), RS256 only, exact issuer and audience, required claims, 60 s leeway
// (fedbroker's LEEWAY).   node jwt_jose.mjs INDIR [SECONDS] [WARMUP_SECONDS]
import { createLocalJWKSet, jwtVerify } from "jose";
import { args, version, timeLoop, report, mustFail } from "./common.mjs";

const { read, manifest, seconds, warmup } = args();
const token = read("token.jwt");
const tampered = read("token-tampered.jwt");
const jwks = createLocalJWKSet(JSON.parse(read("jwks.json")));
const options = (audience) => ({
  issuer: manifest.jwt.issuer,
  audience,
  algorithms: ["RS256"],
  requiredClaims: ["iss", "aud", "sub", "iat", "exp"],
  clockTolerance: 60,
});
const strict = options(manifest.jwt.audience);

const { payload } = await jwtVerify(token, jwks, strict);
if (payload.sub !== manifest.jwt.subject) throw new Error("unexpected sub");
await mustFail("the tampered JWT", jwtVerify(tampered, jwks, strict));
await mustFail("a JWT for another audience", jwtVerify(token, jwks, options("another-audience")));

report("jose", `jose-${version("jose")}`, await timeLoop(warmup, seconds, () => jwtVerify(token, jwks, strict)));
