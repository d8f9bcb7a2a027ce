// Test-only OIDC identity provider for fedbroker's end-to-end tests (oidc-provider on HTTPS, on
// loopback). See testidp/README.md. Never expose it: its keys, TLS CA and client secrets are
// committed test fixtures.
//
// Environment (all optional):
//   TESTIDP_PORT            port on 127.0.0.1 (default 0: any free port, printed on stdout)
//   TESTIDP_JWKS            private JWKS file of signing keys (default testidp/keys/default.json)
//   TESTIDP_TLS_CERT/_KEY/_CA  server certificate, key and CA (default certs/oidc-idp-*)
//   TESTIDP_AUDIENCE        `aud` of workload tokens (default sts.amazonaws.com)
//   TESTIDP_TOKEN_TTL       lifetime of workload tokens, seconds (default 300)
//   TESTIDP_ACCESS_TOKEN_ALG  RS256 (default) or ES256, for workload tokens
//   TESTIDP_WORKLOAD_SUB    `sub` of workload tokens (default: the client id), e.g.
//                           repo:org/app:ref:refs/heads/main as in a CI job token
//   TESTIDP_TOKEN_TYP       JWS `typ` of workload tokens: JWT (default, as CI job tokens) or
//                           at+jwt (RFC 9068 access tokens)
//   TESTIDP_EXTRA_CLAIMS    JSON object merged into workload tokens and the test user's ID token
//                           and userinfo, e.g. {"https://aws.amazon.com/source_identity":"alice"}
//   TESTIDP_REDIRECT_URI    redirect URI(s) of the browser client (comma-separated)
//   TESTIDP_USER            the one test user's `sub` (default alice)
//   TESTIDP_AUTO_LOGIN=1    skip the login page (log the test user in at once)
//   TESTIDP_CC_CLIENT_ID/_SECRET, TESTIDP_WEB_CLIENT_ID/_SECRET  see clients.mjs
//   TESTIDP_ENV_FILE        once listening, write the FEDBROKER_TEST_OIDC_* exports there
//
// On start it prints one line `testidp: ready issuer=https://127.0.0.1:PORT ...` on stdout.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Provider, { errors } from 'oidc-provider';
import { audienceResourcePrefix, stsResource, web, workload } from './clients.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const env = process.env;

function fail(message) {
  console.error(`testidp: error: ${message}`);
  process.exit(2);
}

const port = Number(env.TESTIDP_PORT ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`TESTIDP_PORT=${env.TESTIDP_PORT} is not a port`);
const audience = env.TESTIDP_AUDIENCE ?? 'sts.amazonaws.com';
const tokenTtl = Number(env.TESTIDP_TOKEN_TTL ?? 300);
if (!Number.isInteger(tokenTtl) || tokenTtl < 1) fail('TESTIDP_TOKEN_TTL must be a positive integer');
const accessTokenAlg = env.TESTIDP_ACCESS_TOKEN_ALG ?? 'RS256';
if (!['RS256', 'ES256'].includes(accessTokenAlg)) fail('TESTIDP_ACCESS_TOKEN_ALG must be RS256 or ES256');
const workloadSub = env.TESTIDP_WORKLOAD_SUB || undefined;
const tokenTyp = env.TESTIDP_TOKEN_TYP ?? 'JWT';
if (!['JWT', 'at+jwt'].includes(tokenTyp)) fail('TESTIDP_TOKEN_TYP must be JWT or at+jwt');
const testUser = env.TESTIDP_USER ?? 'alice';
const autoLogin = env.TESTIDP_AUTO_LOGIN === '1';

// Claims the IdP itself sets; extra claims may not replace them.
const RESERVED = ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'client_id', 'scope', 'azp',
  'auth_time', 'nonce', 'at_hash', 'c_hash', 'sid', 'cnf', 'acr', 'amr'];
let extraClaims = {};
if (env.TESTIDP_EXTRA_CLAIMS) {
  try {
    extraClaims = JSON.parse(env.TESTIDP_EXTRA_CLAIMS);
  } catch (err) {
    fail(`TESTIDP_EXTRA_CLAIMS is not JSON: ${err.message}`);
  }
  if (extraClaims === null || typeof extraClaims !== 'object' || Array.isArray(extraClaims)) {
    fail('TESTIDP_EXTRA_CLAIMS must be a JSON object');
  }
  const clash = Object.keys(extraClaims).filter((k) => RESERVED.includes(k));
  if (clash.length) fail(`TESTIDP_EXTRA_CLAIMS may not set ${clash.join(', ')}`);
}

const jwksFile = resolve(env.TESTIDP_JWKS ?? join(here, 'keys', 'default.json'));
let jwks;
try {
  jwks = JSON.parse(readFileSync(jwksFile, 'utf8'));
} catch (err) {
  fail(`cannot read TESTIDP_JWKS ${jwksFile}: ${err.message} (run: node testidp/genkeys.mjs)`);
}
if (!Array.isArray(jwks.keys) || !jwks.keys.every((k) => k.d && k.kid)) {
  fail(`${jwksFile} must be a private JWKS whose keys all have "d" and "kid"`);
}

const tls = {
  cert: env.TESTIDP_TLS_CERT ?? join(root, 'certs', 'oidc-idp-server.crt'),
  key: env.TESTIDP_TLS_KEY ?? join(root, 'certs', 'oidc-idp-server.key'),
  ca: env.TESTIDP_TLS_CA ?? join(root, 'certs', 'oidc-idp-ca.crt'),
};
let serverOptions;
try {
  serverOptions = {
    key: readFileSync(tls.key),
    // Leaf + CA, so the CA is the last certificate a client is shown (IAM thumbprint procedure).
    cert: Buffer.concat([readFileSync(tls.cert), readFileSync(tls.ca)]),
  };
} catch (err) {
  fail(`cannot read the TLS files: ${err.message} (run: scripts/gen-oidc-idp-certs.sh)`);
}

// The server listens first: with TESTIDP_PORT=0 the issuer is known only once the port is.
const server = https.createServer(serverOptions);
await new Promise((ok, ko) => {
  server.once('error', ko);
  server.listen(port, '127.0.0.1', ok);
}).catch((err) => fail(`cannot listen on 127.0.0.1:${port}: ${err.message}`));
const issuer = `https://127.0.0.1:${server.address().port}`;

function resourceServer(aud) {
  return {
    scope: 'sts',
    audience: aud,
    accessTokenTTL: tokenTtl,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: accessTokenAlg } },
  };
}

const userClaims = {
  sub: testUser,
  name: `Test User ${testUser}`,
  preferred_username: testUser,
  email: `${testUser}@example.com`,
  email_verified: true,
  ...extraClaims,
};

const provider = new Provider(issuer, {
  jwks,
  clients: [
    {
      client_id: workload.clientId,
      client_secret: workload.clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: web.clientId,
      client_secret: web.clientSecret,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: web.redirectUris,
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // A workload asking for no resource gets the STS one, so a bare client_credentials request
      // yields the JWT; the browser client gets an opaque token for userinfo unless it asks.
      defaultResource: async (ctx, client, oneOf) => oneOf
        ?? (client.grantTypeAllowed('client_credentials') ? stsResource : undefined),
      getResourceServerInfo: async (ctx, resource) => {
        if (resource === stsResource) return resourceServer(audience);
        if (resource.startsWith(audienceResourcePrefix) && resource.length > audienceResourcePrefix.length) {
          return resourceServer(resource.slice(audienceResourcePrefix.length));
        }
        throw new errors.InvalidTarget();
      },
      useGrantedResource: async () => true,
    },
  },
  extraTokenClaims: async (ctx, token) => (token.resourceServer ? { ...extraClaims } : undefined),
  formats: {
    customizers: {
      jwt: async (ctx, token, jwt) => {
        jwt.header = { typ: tokenTyp };
        if (workloadSub && token.kind === 'ClientCredentials') jwt.payload.sub = workloadSub;
      },
    },
  },
  claims: {
    openid: ['sub', ...Object.keys(extraClaims)],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  // Scope-requested claims go into the ID token too (the broker reads the ID token, not userinfo).
  conformIdTokenClaims: false,
  findAccount: async (ctx, sub) => (sub === testUser
    ? { accountId: sub, claims: async () => ({ ...userClaims }) }
    : undefined),
  pkce: { required: () => true },
  interactions: { url: async (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['fedbroker-testidp-cookie-key-TEST-ONLY'] },
  clientBasedCORS: () => false,
});

provider.on('server_error', (ctx, err) => console.error('testidp: server_error', err));
provider.on('grant.error', (ctx, err) => console.error(`testidp: grant.error ${err.name}: ${err.message} ${err.error_description ?? ''}`));

const html = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, clientId) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test IdP sign-in</title></head>
<body>
  <h1>fedbroker test IdP</h1>
  <p>Client <code>${html(clientId)}</code> asks you to sign in.</p>
  <form method="post" action="/interaction/${html(uid)}/login">
    <button type="submit" id="login" name="login" value="${html(testUser)}">Sign in as ${html(testUser)}</button>
  </form>
</body></html>`;
}

// Login: the fixed test user; consent: everything asked for, granted without a page.
async function finish(req, res, details) {
  const { prompt, params, session, grantId } = details;
  if (prompt.name === 'login') {
    return provider.interactionFinished(req, res, { login: { accountId: testUser } },
      { mergeWithLastSubmission: false });
  }
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const savedId = await grant.save();
  return provider.interactionFinished(req, res, { consent: grantId ? {} : { grantId: savedId } },
    { mergeWithLastSubmission: true });
}

async function interaction(req, res, uid, action) {
  try {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new Error('interaction does not match the cookie');
    if (req.method === 'GET' && !action && details.prompt.name === 'login' && !autoLogin) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(loginPage(uid, details.params.client_id));
      return;
    }
    if (req.method === 'POST' && action !== 'login') {
      res.writeHead(405).end();
      return;
    }
    req.resume(); // the form carries nothing we need
    await finish(req, res, details);
  } catch (err) {
    res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`testidp: interaction failed: ${err.message}\n`);
  }
}

const oidc = provider.callback();
server.on('request', (req, res) => {
  const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login))?\/?(?:\?.*)?$/.exec(req.url);
  if (m) {
    interaction(req, res, m[1], m[2]);
  } else {
    oidc(req, res);
  }
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

if (env.TESTIDP_ENV_FILE) {
  const vars = {
    FEDBROKER_TEST_OIDC_ISSUER: issuer,
    FEDBROKER_TEST_OIDC_CA: resolve(tls.ca),
    FEDBROKER_TEST_OIDC_AUDIENCE: audience,
    FEDBROKER_TEST_OIDC_CLIENT_ID: workload.clientId,
    FEDBROKER_TEST_OIDC_CLIENT_SECRET: workload.clientSecret,
    FEDBROKER_TEST_OIDC_WEB_CLIENT_ID: web.clientId,
    FEDBROKER_TEST_OIDC_WEB_CLIENT_SECRET: web.clientSecret,
    FEDBROKER_TEST_OIDC_REDIRECT_URI: web.redirectUris.join(','),
    FEDBROKER_TEST_OIDC_USER: testUser,
    FEDBROKER_TEST_OIDC_JWKS_FILE: jwksFile,
  };
  const quote = (v) => `'${String(v).replaceAll("'", "'\\''")}'`;
  const text = `# Written by testidp/server.mjs (scripts/oidc-idp.sh start). TEST-ONLY secrets.\n${
    Object.entries(vars).map(([k, v]) => `export ${k}=${quote(v)}`).join('\n')}\n`;
  writeFileSync(`${env.TESTIDP_ENV_FILE}.tmp`, text);
  renameSync(`${env.TESTIDP_ENV_FILE}.tmp`, env.TESTIDP_ENV_FILE);
}

const kids = jwks.keys.map((k) => `${k.alg ?? k.kty}:${k.kid}`).join(',');
console.log(`testidp: ready issuer=${issuer} keys=${kids} jwks_file=${jwksFile}`);
