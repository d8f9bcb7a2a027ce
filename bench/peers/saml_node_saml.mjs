// Peer: npm `@node-saml/node-saml` — SAML.validatePostResponseAsync on the base64 SAMLResponse,
// pinned IdP certificate, Assertion signature required (Response signature not required: AWS
// IdPs commonly sign only the Assertion), audience = AWS's SP entity ID, 120 s clock skew and
// 30 min maximum assertion age (fedbroker's CLOCK_SKEW and MAX_ASSERTION_LIFETIME), no
// InResponseTo (IdP-initiated, as AWS receives it). node-saml 5 checks the Response Issuer only
// for logout messages, so this wrapper checks the signed Assertion's Issuer (profile.issuer)
// itself; it does not check Destination or SubjectConfirmationData Recipient at all.
//   node saml_node_saml.mjs INDIR [SECONDS] [WARMUP_SECONDS]
import { SAML } from "@node-saml/node-saml";
import { args, version, timeLoop, report, mustFail } from "./common.mjs";

const { read, manifest, seconds, warmup } = args();
const m = manifest.saml;
const valid = { SAMLResponse: read("saml-response.b64") };
const tampered = { SAMLResponse: read("saml-response-tampered.b64") };
const ROLE = "https://aws.amazon.com/SAML/Attributes/Role";

const sp = (audience) =>
  new SAML({
    callbackUrl: m.acs_url,
    issuer: audience,
    audience,
    idpCert: read("saml-idp.crt.pem"),
    idpIssuer: m.idp_entity_id,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: false,
    acceptedClockSkewMs: 120_000,
    maxAssertionAgeMs: 30 * 60 * 1000,
    validateInResponseTo: "never",
  });
const saml = sp(m.audience);

async function verify(s, container) {
  const { profile } = await s.validatePostResponseAsync(container);
  if (!profile || profile.issuer !== m.idp_entity_id) throw new Error("wrong or missing issuer");
  if (profile[ROLE] !== m.role) throw new Error("role attribute missing");
  return profile;
}

const profile = await verify(saml, valid);
if (profile.nameID !== "alice@example.com") throw new Error("unexpected NameID");
await mustFail("the tampered SAML Response", verify(saml, tampered));
await mustFail("a SAML Response for another audience", verify(sp("urn:example:another-sp"), valid));

report(
  "node-saml",
  `@node-saml/node-saml-${version("@node-saml/node-saml")}`,
  await timeLoop(warmup, seconds, () => verify(saml, valid)),
);
