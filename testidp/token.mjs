// Fetch a client_credentials JWT from the running test IdP and print it (one line, stdout).
//
//   node testidp/token.mjs [--resource URI] [--decode]
//
// Reads FEDBROKER_TEST_OIDC_ISSUER and FEDBROKER_TEST_OIDC_CA (as written by
// `scripts/oidc-idp.sh start` into .fedbroker-run/oidc-idp.env; scripts/oidc-token.sh sources it),
// and FEDBROKER_TEST_OIDC_CLIENT_ID / _SECRET (default: the workload client of clients.mjs).
// Trusts only that CA. --resource asks for another Resource Indicator, e.g.
// urn:fedbroker:testidp:audience:wrong.example for a token with aud "wrong.example".
// --decode prints the decoded header and claims as JSON instead of the token (never verified:
// for looking at, not for trusting).
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { workload } from './clients.mjs';

const args = process.argv.slice(2);
const decode = args.includes('--decode');
const resourceAt = args.indexOf('--resource');
const resource = resourceAt >= 0 ? args[resourceAt + 1] : undefined;

function fail(message) {
  console.error(`token: error: ${message}`);
  process.exit(1);
}

const issuer = process.env.FEDBROKER_TEST_OIDC_ISSUER;
const caFile = process.env.FEDBROKER_TEST_OIDC_CA;
if (!issuer || !caFile) fail('FEDBROKER_TEST_OIDC_ISSUER/_CA are not set: run scripts/oidc-idp.sh start and source .fedbroker-run/oidc-idp.env (or use scripts/oidc-token.sh)');
const clientId = process.env.FEDBROKER_TEST_OIDC_CLIENT_ID ?? workload.clientId;
const clientSecret = process.env.FEDBROKER_TEST_OIDC_CLIENT_SECRET ?? workload.clientSecret;
const ca = readFileSync(caFile);

function request(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((ok, ko) => {
    const req = https.request(url, { method, headers, ca, timeout: 10_000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url}`)));
    req.on('error', ko);
    req.end(body);
  });
}

try {
  const disco = await request(`${issuer}/.well-known/openid-configuration`);
  if (disco.status !== 200) fail(`discovery answered HTTP ${disco.status}`);
  const { token_endpoint: tokenEndpoint } = JSON.parse(disco.text);
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (resource) form.set('resource', resource);
  // RFC 6749 §2.3.1: form-encode id and secret before Basic.
  const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');
  const res = await request(tokenEndpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  if (res.status !== 200) fail(`token endpoint answered HTTP ${res.status}: ${res.text}`);
  const token = JSON.parse(res.text).access_token;
  if (decode) {
    const [header, payload] = token.split('.').slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')));
    console.log(JSON.stringify({ header, payload }, null, 2));
  } else {
    console.log(token);
  }
} catch (err) {
  fail(err.message);
}
