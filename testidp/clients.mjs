// The test IdP's fixed clients and their TEST-ONLY secrets, shared by server.mjs and token.mjs.
// Every value can be overridden by the environment variable named beside it.

/** Workload client: client_credentials grant → JWT access token with aud sts.amazonaws.com. */
export const workload = {
  clientId: process.env.TESTIDP_CC_CLIENT_ID ?? 'ci-workload',
  clientSecret: process.env.TESTIDP_CC_CLIENT_SECRET ?? 'ci-workload-secret-TEST-ONLY',
};

/** Browser client: authorization code + PKCE (S256), confidential (client_secret_basic). */
export const web = {
  clientId: process.env.TESTIDP_WEB_CLIENT_ID ?? 'fedbroker-web',
  clientSecret: process.env.TESTIDP_WEB_CLIENT_SECRET ?? 'fedbroker-web-secret-TEST-ONLY',
  redirectUris: (process.env.TESTIDP_REDIRECT_URI ?? 'http://127.0.0.1:8080/oidc/callback')
    .split(/[\s,]+/)
    .filter(Boolean),
};

/** The Resource Indicator (RFC 8707) a workload token is issued for by default. oidc-provider
 * requires an absolute URI here; the token's `aud` is the audience below, not this URI. */
export const stsResource = 'urn:fedbroker:testidp:sts';
/** Prefix of Resource Indicators that ask for any other audience (negative tests):
 * `resource=urn:fedbroker:testidp:audience:wrong.example` → `aud: "wrong.example"`. */
export const audienceResourcePrefix = 'urn:fedbroker:testidp:audience:';
