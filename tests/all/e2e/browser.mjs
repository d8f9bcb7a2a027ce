// Browser end-to-end driver for tests/all/e2e/browser.rs: headless Chromium (Debian's, driven by
// playwright-core) signs in at a real OIDC provider and a real SAML IdP, lands on the broker's role
// picker, screenshots it, reads it, and opens the console through the federation-endpoint double.
// It also tries what an attacker would: replaying the OIDC callback and the SAML POST (same and
// other browser), a sign-in started in one browser and finished in another (login CSRF), a
// hostile RelayState from the IdP, and a console Destination elsewhere. The SAML IdP is on another
// site than the broker (`localhost` vs `127.0.0.1`), as a real IdP is, so its POST to the ACS is a
// cross-site POST; it requires signed AuthnRequests, and the driver checks that it refuses a
// request whose signature is missing or broken, or whose query was changed.
//
// It asserts nothing itself beyond "the page is where it should be"; it prints ONE line of JSON on
// stdout with what it saw, and the Rust test judges it. It never prints a URL that can carry a
// secret (the console sign-in URL, a callback code): only paths, statuses and error codes.
//
// Environment (set by tests/all/e2e/browser.rs):
//   E2E_BROKER_URL        http://127.0.0.1:PORT of the broker
//   E2E_OIDC_PROVIDER     [[oidc.providers]] name;  E2E_SAML_IDP  [[saml.idps]] name
//   E2E_FEDERATION_URL    the federation double's URL (http://127.0.0.1:PORT/federation)
//   E2E_ARTIFACTS         directory for screenshots (picker-oidc.png, picker-saml.png)
//   E2E_CHROMIUM          browser executable (default /usr/bin/chromium)
//   E2E_TIMEOUT_MS        overall deadline (default 50000)
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = process.env;
const need = (k) => env[k] || fail(`${k} is not set`);
const broker = need('E2E_BROKER_URL');
const oidcProvider = need('E2E_OIDC_PROVIDER');
const samlIdp = need('E2E_SAML_IDP');
const federation = need('E2E_FEDERATION_URL');
const artifacts = need('E2E_ARTIFACTS');
const executablePath = env.E2E_CHROMIUM || '/usr/bin/chromium';
const deadline = Number(env.E2E_TIMEOUT_MS || 50000);
const STEP_TIMEOUT = 15000;

function fail(message) {
  console.error(`e2e: ${message}`);
  process.exit(2);
}

setTimeout(() => fail(`no result within ${deadline} ms`), deadline).unref();
mkdirSync(artifacts, { recursive: true });

const browser = await chromium
  .launch({ executablePath, args: ['--no-sandbox'], headless: true })
  .catch((err) => fail(`cannot launch ${executablePath}: ${err.message}`));

/** A fresh browser profile (its own cookies). The OIDC IdP's TLS certificate comes from the test's
 * private CA, which Chromium does not know; the broker itself verifies it against that CA. */
const newContext = () => browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1000, height: 700 } });

/** Path (and, for the broker's own pages, query) of a URL, never a third party's query. */
function where(url) {
  const u = new URL(url);
  const origin = u.origin === new URL(broker).origin ? 'broker' : u.origin === new URL(federation).origin ? 'federation' : 'other';
  return { origin, path: u.pathname };
}

/** The error code a broker error page shows (`<p class="err"><code>CODE</code>`). */
async function errorCode(page) {
  return (await page.locator('p.err code').first().textContent({ timeout: 2000 }).catch(() => null)) ?? null;
}

/** What the role picker shows. */
async function readPicker(page) {
  const rows = await page.locator('table tbody tr').evaluateAll((trs) => trs.map((tr) => {
    const td = [...tr.querySelectorAll('td')].map((c) => c.textContent.trim());
    const link = tr.querySelector('a.console');
    return { alias: td[0], role_name: td[1], account: td[2], link_text: link?.textContent.trim() ?? null };
  }));
  const signedInAs = (await page.locator('main p').first().textContent()).trim();
  return { title: await page.title(), signed_in_as: signedInAs, rows };
}

/**
 * Sign in through the broker's sign-in page with `linkHref`, at the IdP (button #login); returns
 * once on the broker's picker, with the request the IdP's answer came in (`finalMatch`).
 */
async function signIn(context, linkHref, finalMatch) {
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  let captured = null;
  let toIdp = null;
  const catchIt = (req) => {
    if (finalMatch(req)) captured = { url: req.url(), method: req.method(), post: req.postData(), req };
    if (!toIdp && !req.url().startsWith(broker)) toIdp = new URL(req.url());
  };
  page.on('request', catchIt);
  const start = await page.goto(`${broker}/roles`);
  const startStatus = start.status();
  await page.click(`a[href="${linkHref}"]`);
  await page.waitForSelector('#login');
  const idpOrigin = new URL(page.url()).origin;
  try {
    await Promise.all([page.waitForURL(`${broker}/roles`), page.click('#login')]);
  } catch (err) {
    // Say where the sign-in ended instead (e.g. a broker error page and its code).
    const at = { ...where(page.url()), code: await errorCode(page) };
    throw new Error(`sign-in did not reach the role picker: ended at ${JSON.stringify(at)}`);
  }
  page.off('request', catchIt);
  // Which protections the request to the IdP carries (names only, never values).
  const q = toIdp.searchParams;
  const request = {
    state: q.has('state'),
    nonce: q.has('nonce'),
    pkce_s256: q.get('code_challenge_method') === 'S256',
    saml_request: q.has('SAMLRequest'),
  };
  if (q.has('SAMLRequest')) {
    request.sig_alg = q.get('SigAlg');
    request.signature = q.has('Signature');
  }
  // Which of the broker's cookies (names only) the browser sent with the IdP's answer (cookies
  // ignore ports: the OIDC IdP's own cookies on 127.0.0.1 go along too, and are left out here).
  const headers = captured ? await captured.req.allHeaders() : {};
  const cookieNames = (headers.cookie ?? '').split(';').map((c) => c.split('=')[0].trim())
    .filter((n) => n.includes('fedbroker')).sort();
  return { page, captured, startStatus, idpOrigin, request, toIdp, cookieNames };
}

/**
 * Login CSRF / a sign-in finished in another browser: browser A starts a sign-in (the broker binds
 * its state / AuthnRequest to A), browser B is sent A's request to the IdP and signs in there; the
 * IdP's answer reaches the broker in B. Returns the broker's final answer in B.
 */
async function finishedInOtherBrowser(linkHref) {
  const a = await newContext();
  const pa = await a.newPage();
  pa.setDefaultTimeout(STEP_TIMEOUT);
  let toIdp = null;
  pa.on('request', (req) => {
    if (!toIdp && !req.url().startsWith(broker)) toIdp = req.url();
  });
  await pa.goto(`${broker}/roles`);
  await pa.click(`a[href="${linkHref}"]`);
  await pa.waitForSelector('#login');
  await a.close();
  const b = await newContext();
  const pb = await b.newPage();
  pb.setDefaultTimeout(STEP_TIMEOUT);
  await pb.goto(toIdp);
  const [res] = await Promise.all([
    pb.waitForResponse((r) => r.url().startsWith(broker) && r.request().isNavigationRequest()
      && (r.status() < 300 || r.status() >= 400)),
    pb.click('#login'),
  ]);
  await pb.waitForLoadState('load');
  const out = { status: res.status(), ...where(pb.url()), code: await errorCode(pb) };
  await b.close();
  return out;
}

/** Open the console from the picker: the first row's link, to the double's login page. */
async function openConsole(page) {
  const link = page.locator('a.console').first();
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().startsWith(federation) && r.request().isNavigationRequest()),
    link.click(),
  ]);
  await page.waitForLoadState('load');
  return { status: response.status(), ...where(page.url()), title: await page.title() };
}

/** A console link with `destination=` pointing elsewhere: refused on a broker error page. */
async function foreignDestination(context, page) {
  const href = await page.locator('a.console').first().getAttribute('href');
  const p = await context.newPage();
  const res = await p.goto(`${broker}${href}&destination=${encodeURIComponent('https://evil.example/phish')}`);
  const out = { status: res.status(), ...where(p.url()), code: await errorCode(p) };
  await p.close();
  return out;
}

/** GET a URL in `context`; status, where it ended, the error code shown. */
async function visit(context, url) {
  const p = await context.newPage();
  const res = await p.goto(url);
  const out = { status: res.status(), ...where(p.url()), code: await errorCode(p) };
  await p.close();
  return out;
}

/** POST a form from a page the attacker controls (about:blank) to `action`. */
async function postForm(context, action, body) {
  const p = await context.newPage();
  const fields = [...new URLSearchParams(body)].map(([k, v]) => {
    const input = `<input type="hidden" name="${k.replace(/"/g, '&quot;')}">`;
    return { input, k, v };
  });
  await p.setContent(`<form method="post" action="${action}">${fields.map((f) => f.input).join('')}</form>`);
  for (const [i, f] of fields.entries()) {
    await p.locator('input').nth(i).evaluate((el, v) => { el.value = v; }, f.v);
  }
  const [res] = await Promise.all([
    p.waitForNavigation(),
    p.locator('form').evaluate((form) => form.submit()),
  ]);
  const out = { status: res.status(), ...where(p.url()), code: await errorCode(p) };
  await p.close();
  return out;
}

/**
 * The IdP wants signed AuthnRequests: the broker's request, altered, must be refused there. Returns
 * for each alteration the IdP's status and the samlify error code on its page.
 */
async function tamperedAuthnRequests(context, toIdp) {
  const raw = toIdp.href;
  const variants = {
    signature_removed: raw.replace(/&Signature=[^&]*/, ''),
    signature_altered: raw.replace(/&Signature=([^&]*)/, (_, sig) => {
      const bytes = Buffer.from(decodeURIComponent(sig), 'base64');
      bytes[bytes.length >> 1] ^= 0x01; // one bit of the RSA signature
      return `&Signature=${encodeURIComponent(bytes.toString('base64'))}`;
    }),
    relay_state_added: raw.replace('&SigAlg=', `&RelayState=${encodeURIComponent('/roles?evil=1')}&SigAlg=`),
  };
  const out = {};
  for (const [name, url] of Object.entries(variants)) {
    if (url === raw) { out[name] = { status: 0, error: 'variant not built' }; continue; }
    const p = await context.newPage();
    const res = await p.goto(url);
    const text = (await p.textContent('body').catch(() => '')) ?? '';
    out[name] = { status: res.status(), error: (/ERR_[A-Z_]+/.exec(text) ?? [null])[0] };
    await p.close();
  }
  // The untouched request is still accepted (the IdP shows its sign-in page).
  const p = await context.newPage();
  const res = await p.goto(raw);
  out.untouched = { status: res.status(), sign_in_page: (await p.locator('#login').count()) === 1 };
  await p.close();
  return out;
}

/** The shape of the SAML Response the IdP posted (no values that identify or authorize). */
function samlShape(post) {
  const xml = Buffer.from(new URLSearchParams(post).get('SAMLResponse'), 'base64').toString('utf8');
  const all = (re) => [...xml.matchAll(re)].map((m) => m[1]);
  return {
    signatures: (xml.match(/<ds:Signature[\s>]/g) ?? []).length,
    signature_methods: [...new Set(all(/SignatureMethod Algorithm="([^"]+)"/g))],
    canonicalization: [...new Set(all(/CanonicalizationMethod Algorithm="([^"]+)"/g))],
    digest_methods: [...new Set(all(/DigestMethod Algorithm="([^"]+)"/g))],
    has_dtd: /<!DOCTYPE/i.test(xml),
    in_response_to: /SubjectConfirmationData [^>]*InResponseTo="_fb/.test(xml),
  };
}

const result = {};
const t0 = Date.now();
try {
  // --- OIDC -------------------------------------------------------------------------------------
  {
    const isCallback = (req) => req.url().startsWith(`${broker}/oidc/callback`);
    const ctx = await newContext();
    const { page, captured, startStatus, idpOrigin, request, cookieNames } = await signIn(ctx, `/oidc/login?provider=${encodeURIComponent(oidcProvider)}`, isCallback);
    const shot = join(artifacts, 'picker-oidc.png');
    await page.screenshot({ path: shot, fullPage: true });
    const picker = await readPicker(page);
    const destination = await foreignDestination(ctx, page);
    const console_ = await openConsole(page);
    // The same callback again: in this browser and in another one.
    const replaySame = await visit(ctx, captured.url);
    const ctx2 = await newContext();
    const replayOther = await visit(ctx2, captured.url);
    await ctx2.close();
    await ctx.close();
    const otherBrowser = await finishedInOtherBrowser(`/oidc/login?provider=${encodeURIComponent(oidcProvider)}`);
    result.oidc = {
      sign_in_page_status: startStatus,
      idp_is_https: idpOrigin.startsWith('https://'),
      callback_cookies: cookieNames,
      request_to_idp: request,
      screenshot: shot,
      picker,
      console: console_,
      foreign_destination: destination,
      callback_replay_same_browser: replaySame,
      callback_replay_other_browser: replayOther,
      sign_in_finished_in_other_browser: otherBrowser,
    };
  }

  // --- SAML -------------------------------------------------------------------------------------
  {
    const isAcs = (req) => req.url() === `${broker}/saml/acs` && req.method() === 'POST';
    const ctx = await newContext();
    const { page, captured, startStatus, idpOrigin, request, toIdp, cookieNames } = await signIn(ctx, `/saml/login?idp=${encodeURIComponent(samlIdp)}`, isAcs);
    const relayState = new URLSearchParams(captured.post).get('RelayState');
    const landed = where(page.url());
    const shot = join(artifacts, 'picker-saml.png');
    await page.screenshot({ path: shot, fullPage: true });
    const picker = await readPicker(page);
    const console_ = await openConsole(page);
    const replaySame = await postForm(ctx, `${broker}/saml/acs`, captured.post);
    const ctx2 = await newContext();
    const replayOther = await postForm(ctx2, `${broker}/saml/acs`, captured.post);
    await ctx2.close();
    await ctx.close();
    const otherBrowser = await finishedInOtherBrowser(`/saml/login?idp=${encodeURIComponent(samlIdp)}`);
    const ctx3 = await newContext();
    const tampered = await tamperedAuthnRequests(ctx3, toIdp);
    await ctx3.close();
    result.saml = {
      sign_in_page_status: startStatus,
      idp_host: new URL(idpOrigin).hostname,
      broker_host: new URL(broker).hostname,
      acs_post_cookies: cookieNames,
      request_to_idp: request,
      tampered_authn_requests: tampered,
      relay_state_sent: relayState,
      response: samlShape(captured.post),
      landed,
      screenshot: shot,
      picker,
      console: console_,
      acs_replay_same_browser: replaySame,
      acs_replay_other_browser: replayOther,
      sign_in_finished_in_other_browser: otherBrowser,
    };
  }
} catch (err) {
  result.error = String(err?.stack ?? err).split('\n').slice(0, 6).join('\n');
} finally {
  result.elapsed_ms = Date.now() - t0;
  result.browser_version = browser.version();
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.error ? 1 : 0);
