// Generate a PRIVATE JWKS for the test OIDC IdP (testidp/server.mjs): one RSA-2048 key (RS256) and
// one P-256 key (ES256), each with `kid` = its RFC 7638 JWK thumbprint, `use: "sig"` and `alg`.
// TEST ONLY: the committed key sets under testidp/keys/ are public knowledge.
//
//   node testidp/genkeys.mjs [OUT.json]         # default testidp/keys/default.json
//   node testidp/genkeys.mjs --force [OUT.json] # overwrite an existing file
//
// Key rotation in tests: restart the IdP with TESTIDP_JWKS pointing at another set (e.g. the
// committed testidp/keys/rotated.json, or a fresh one from this script). The IdP signs with the
// first key of the algorithm it needs and publishes the public halves of all keys in the file.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const force = args.includes('--force');
const out = args.find((a) => !a.startsWith('--')) ?? join(here, 'keys', 'default.json');

if (existsSync(out) && !force) {
  console.error(`genkeys: ${out} exists; pass --force to replace it`);
  process.exit(1);
}

// RFC 7638: SHA-256 over the required public members, in lexicographic order, no whitespace.
function thumbprint(jwk) {
  const members = jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
    : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

function privateJwk(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  const jwk = privateKey.export({ format: 'jwk' });
  return { kid: thumbprint(jwk), use: 'sig', alg, ...jwk };
}

const jwks = {
  keys: [
    privateJwk('rsa', { modulusLength: 2048 }, 'RS256'),
    privateJwk('ec', { namedCurve: 'P-256' }, 'ES256'),
  ],
};

mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o600 });
console.error(`genkeys: wrote ${out} (kids ${jwks.keys.map((k) => `${k.alg}:${k.kid}`).join(', ')})`);
