// Test-only SAML 2.0 identity provider for fedbroker's browser end-to-end test (samlify, plain
// HTTP on loopback). Never expose it: its signing key (certs/saml-idp.key) is a committed fixture.
//
// The flow is the SP-initiated Web Browser SSO profile as a real IdP runs it: the broker's
// AuthnRequest arrives by HTTP-Redirect (`GET /sso?SAMLRequest=...&RelayState=...`); its Issuer
// and AssertionConsumerServiceURL must match the SP metadata read at start; a sign-in page
// (button `#login`) is shown; on submit a signed Response (RSA-SHA256, exclusive C14N, Assertion
// signed and, by default, the Response too) goes back by HTTP-POST through an auto-submitting
// form, with InResponseTo = the request's ID. Each sign-in page can be submitted once.
//
// Environment:
//   SAMLIDP_SP_METADATA_URL  the SP's metadata (required), e.g. http://127.0.0.1:8080/saml/metadata
//   SAMLIDP_PORT             port on 127.0.0.1 (default 7443; 0 = any free port)
//   SAMLIDP_HOST             host name in the IdP's own URLs (default 127.0.0.1; it always listens
//                            on 127.0.0.1): `localhost` puts the IdP on another site than a broker
//                            on 127.0.0.1, as for a real IdP (browsers see two sites)
//   SAMLIDP_WANT_AUTHN_REQUESTS_SIGNED  1: refuse AuthnRequests without a valid signature
//                            (HTTP-Redirect SigAlg/Signature, verified with the signing certificate
//                            of the SP metadata over the query octets as received); default 0
//   SAMLIDP_ENTITY_ID        default https://saml-idp.test.fedbroker.local/metadata (as in
//                            config/e2e-saml-idp-metadata.xml, written by scripts/gen-saml-idp-certs.sh)
//   SAMLIDP_KEY / _CERT      signing key and certificate (default certs/saml-idp.key / .crt)
//   SAMLIDP_USER             NameID (emailAddress format) and RoleSessionName (default alice@example.com)
//   SAMLIDP_ROLE             the AWS Role attribute value(s), `role-arn,provider-arn`, several
//                            separated by `;` (default one pair in account 111122223333)
//   SAMLIDP_SIGN_RESPONSE    1 (default): sign the Response as well as the Assertion; 0: Assertion only
//   SAMLIDP_LIFETIME         seconds an assertion is valid (default 300)
//   SAMLIDP_RELAY_STATE      send this RelayState instead of echoing the request's (negative tests:
//                            an IdP, or whoever tampers with the POST, choosing where to go next)
//
// On start it prints one line `saml-idp: ready url=http://127.0.0.1:PORT entity_id=...` on stdout.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import samlify from 'samlify'; // CommonJS: its named exports are properties of the default one

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const env = process.env;

function fail(message) {
  console.error(`saml-idp: error: ${message}`);
  process.exit(2);
}

const port = Number(env.SAMLIDP_PORT ?? 7443);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`SAMLIDP_PORT=${env.SAMLIDP_PORT} is not a port`);
const spMetadataUrl = env.SAMLIDP_SP_METADATA_URL || fail('SAMLIDP_SP_METADATA_URL is required');
const entityId = env.SAMLIDP_ENTITY_ID ?? 'https://saml-idp.test.fedbroker.local/metadata';
const user = env.SAMLIDP_USER ?? 'alice@example.com';
const roles = (env.SAMLIDP_ROLE
  ?? 'arn:aws:iam::111122223333:role/SamlSignIn,arn:aws:iam::111122223333:saml-provider/fedbroker-e2e')
  .split(';').map((r) => r.trim()).filter(Boolean);
const signResponse = (env.SAMLIDP_SIGN_RESPONSE ?? '1') !== '0';
const lifetime = Number(env.SAMLIDP_LIFETIME ?? 300);
if (!Number.isInteger(lifetime) || lifetime < 1) fail('SAMLIDP_LIFETIME must be a positive integer');
const forcedRelayState = env.SAMLIDP_RELAY_STATE;
const host = env.SAMLIDP_HOST ?? '127.0.0.1';
if (!/^[a-z0-9.-]+$/i.test(host)) fail(`SAMLIDP_HOST=${host} is not a host name`);
const wantSignedRequests = (env.SAMLIDP_WANT_AUTHN_REQUESTS_SIGNED ?? '0') === '1';

const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const ATTR_ROLE = 'https://aws.amazon.com/SAML/Attributes/Role';
const ATTR_SESSION_NAME = 'https://aws.amazon.com/SAML/Attributes/RoleSessionName';
const NAME_FORMAT_URI = 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri';

// samlify insists on a schema validator; this IdP only reads the broker's AuthnRequest, which must
// at least be free of DTDs (the broker never sends one).
samlify.setSchemaValidator({
  validate: async (xml) => {
    if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new Error('DTD in a SAML message');
    return 'ok';
  },
});

let privateKey;
let signingCert;
try {
  privateKey = readFileSync(env.SAMLIDP_KEY ?? join(root, 'certs', 'saml-idp.key'));
  signingCert = readFileSync(env.SAMLIDP_CERT ?? join(root, 'certs', 'saml-idp.crt'));
} catch (err) {
  fail(`cannot read the signing key/certificate: ${err.message} (run: scripts/gen-saml-idp-certs.sh)`);
}

let spMetadata;
try {
  const res = await fetch(spMetadataUrl);
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  spMetadata = await res.text();
} catch (err) {
  fail(`cannot fetch the SP metadata ${spMetadataUrl}: ${err.message}`);
}
const sp = samlify.ServiceProvider({ metadata: spMetadata, wantMessageSigned: signResponse });
const spEntityId = sp.entityMeta.getEntityID();
const acsUrl = sp.entityMeta.getAssertionConsumerService('post');
if (!spEntityId || !acsUrl) fail('the SP metadata has no entityID or no HTTP-POST AssertionConsumerService');

const server = http.createServer();
await new Promise((ok, ko) => {
  server.once('error', ko);
  server.listen(port, '127.0.0.1', ok);
}).catch((err) => fail(`cannot listen on 127.0.0.1:${port}: ${err.message}`));
const base = `http://${host}:${server.address().port}`;

const idp = samlify.IdentityProvider({
  entityID: entityId,
  privateKey,
  signingCert,
  requestSignatureAlgorithm: RSA_SHA256,
  wantAuthnRequestsSigned: wantSignedRequests,
  nameIDFormat: [NAMEID_EMAIL],
  singleSignOnService: [{ Binding: samlify.Constants.namespace.binding.redirect, Location: `${base}/sso` }],
});

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, status, title, body, extraHeaders = {}) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    ...extraHeaders,
  });
  res.end(`<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body><h1>${esc(title)}</h1>${body}</body></html>`);
}

/** Sign-in pages shown and not yet submitted: uid → { requestId, relayState, expires }. */
const pending = new Map();
const PENDING_TTL_MS = 5 * 60 * 1000;

/**
 * The octets an HTTP-Redirect signature covers: `SAMLRequest=…&RelayState=…&SigAlg=…` (RelayState
 * only if present) taken from the raw query exactly as received, never re-encoded (SAML 2.0
 * bindings, DEFLATE encoding, signing).
 */
function signedOctets(rawUrl) {
  const raw = rawUrl.includes('?') ? rawUrl.slice(rawUrl.indexOf('?') + 1) : '';
  const parts = raw.split('&');
  const param = (name) => parts.find((p) => p.startsWith(`${name}=`));
  return ['SAMLRequest', 'RelayState', 'SigAlg'].map(param).filter(Boolean).join('&');
}

async function sso(req, res, url) {
  const query = Object.fromEntries(url.searchParams);
  if (!query.SAMLRequest) return page(res, 400, 'Bad request', '<p>no SAMLRequest</p>');
  let parsed;
  try {
    parsed = await idp.parseLoginRequest(sp, 'redirect', { query, octetString: signedOctets(req.url) });
  } catch (err) {
    return page(res, 400, 'Bad request', `<p>AuthnRequest refused: ${esc(err.message ?? err)}</p>`);
  }
  const request = parsed.extract.request ?? {};
  const issuer = parsed.extract.issuer;
  if (issuer !== spEntityId) {
    return page(res, 400, 'Bad request', `<p>AuthnRequest Issuer ${esc(issuer)} is not ${esc(spEntityId)}</p>`);
  }
  if (request.assertionConsumerServiceUrl && request.assertionConsumerServiceUrl !== acsUrl) {
    return page(res, 400, 'Bad request', '<p>AssertionConsumerServiceURL is not in the SP metadata</p>');
  }
  if (!request.id) return page(res, 400, 'Bad request', '<p>AuthnRequest without ID</p>');
  const uid = randomBytes(16).toString('hex');
  pending.set(uid, { requestId: request.id, relayState: query.RelayState, expires: Date.now() + PENDING_TTL_MS });
  return page(res, 200, 'Test SAML IdP sign-in', `
  <p>Service provider <code>${esc(spEntityId)}</code> asks you to sign in.</p>
  <form method="post" action="/login/${esc(uid)}">
    <button type="submit" id="login">Sign in as ${esc(user)}</button>
  </form>`);
}

function attributeStatement() {
  const attr = (name, values) => `<saml:Attribute Name="${esc(name)}" NameFormat="${NAME_FORMAT_URI}">${
    values.map((v) => `<saml:AttributeValue xsi:type="xs:string">${esc(v)}</saml:AttributeValue>`).join('')
  }</saml:Attribute>`;
  return `<saml:AttributeStatement>${attr(ATTR_ROLE, roles)}${attr(ATTR_SESSION_NAME, [user])}</saml:AttributeStatement>`;
}

async function login(req, res, uid) {
  req.resume(); // the form carries nothing we need
  const p = pending.get(uid);
  pending.delete(uid);
  if (!p || p.expires < Date.now()) return page(res, 400, 'Bad request', '<p>unknown or used sign-in</p>');
  const now = new Date();
  const notAfter = new Date(now.getTime() + lifetime * 1000).toISOString();
  const nowIso = now.toISOString();
  const sessionIndex = `_s${randomBytes(16).toString('hex')}`;
  const id = `_r${randomBytes(20).toString('hex')}`;
  const values = {
    ID: id,
    AssertionID: `_a${randomBytes(20).toString('hex')}`,
    Destination: acsUrl,
    Audience: spEntityId,
    EntityID: spEntityId,
    SubjectRecipient: acsUrl,
    Issuer: entityId,
    IssueInstant: nowIso,
    AssertionConsumerServiceURL: acsUrl,
    StatusCode: samlify.Constants.StatusCode.Success,
    ConditionsNotBefore: nowIso,
    ConditionsNotOnOrAfter: notAfter,
    SubjectConfirmationDataNotOnOrAfter: notAfter,
    NameIDFormat: NAMEID_EMAIL,
    NameID: user,
    InResponseTo: p.requestId,
  };
  const authn = `<saml:AuthnStatement AuthnInstant="${nowIso}" SessionIndex="${sessionIndex}"><saml:AuthnContext>`
    + '<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>'
    + '</saml:AuthnContext></saml:AuthnStatement>';
  const relayState = forcedRelayState ?? p.relayState;
  let out;
  try {
    out = await idp.createLoginResponse(sp, { extract: { request: { id: p.requestId } } }, 'post', { email: user }, {
      relayState,
      customTagReplacement: (template) => ({
        id,
        context: samlify.SamlLib.replaceTagsByValue(
          template.replace('{AuthnStatement}', authn).replace('{AttributeStatement}', attributeStatement()),
          values,
        ),
      }),
    });
  } catch (err) {
    console.error('saml-idp: cannot create the response', err);
    return page(res, 500, 'Error', '<p>cannot create the SAML response</p>');
  }
  const relay = out.relayState ? `<input type="hidden" name="RelayState" value="${esc(out.relayState)}">` : '';
  return page(res, 200, 'Signing you in', `
  <form method="post" action="${esc(out.entityEndpoint)}" id="saml-post">
    <input type="hidden" name="SAMLResponse" value="${esc(out.context)}">${relay}
    <noscript><button type="submit">Continue</button></noscript>
  </form>
  <script>document.getElementById('saml-post').submit();</script>`);
}

server.on('request', (req, res) => {
  const url = new URL(req.url, base);
  const m = /^\/login\/([0-9a-f]{32})$/.exec(url.pathname);
  if (req.method === 'GET' && url.pathname === '/sso') {
    sso(req, res, url);
  } else if (req.method === 'POST' && m) {
    login(req, res, m[1]);
  } else if (req.method === 'GET' && url.pathname === '/metadata') {
    res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' });
    res.end(idp.getMetadata());
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

console.log(`saml-idp: ready url=${base} entity_id=${entityId} sign_response=${signResponse} want_authn_requests_signed=${wantSignedRequests}`);
