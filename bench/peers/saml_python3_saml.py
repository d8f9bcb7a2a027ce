"""Peer: python3-saml (OneLogin) — OneLogin_Saml2_Response(settings, SAMLResponse).is_valid in
strict mode, IdP settings parsed from the same metadata (pinned certificate), SP = AWS (entity ID
urn:amazon:webservices, ACS https://signin.aws.amazon.com/saml, so Destination, Recipient and
Audience are checked), signed Assertion required, deprecated algorithms rejected, NameID and
AttributeStatement required; then the NameID and attributes are read, as a relying party does.
    python saml_python3_saml.py INDIR [SECONDS] [WARMUP_SECONDS]"""
import copy

from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from common import args, must_fail, report, time_loop

read, manifest, seconds, warmup = args()
m = manifest["saml"]
valid = read("saml-response.b64")
tampered = read("saml-response-tampered.b64")
ROLE = "https://aws.amazon.com/SAML/Attributes/Role"

idp = OneLogin_Saml2_IdPMetadataParser.parse(read("idp-metadata.xml"))["idp"]
assert idp["entityId"] == m["idp_entity_id"] and idp.get("x509cert"), "metadata not parsed"


def settings(audience):
    return OneLogin_Saml2_Settings(
        {
            "strict": True,
            "debug": False,
            "sp": {
                "entityId": audience,
                "assertionConsumerService": {
                    "url": m["acs_url"],
                    "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
                },
            },
            "idp": copy.deepcopy(idp),
            "security": {
                "wantAssertionsSigned": True,
                "wantMessagesSigned": False,
                "rejectDeprecatedAlgorithm": True,
                "wantNameId": True,
                "wantAttributeStatement": True,
                "allowRepeatAttributeName": False,
            },
        },
        sp_validation_only=True,
    )


# The request as AWS's sign-in endpoint receives it (python3-saml derives the expected
# Destination from it).
REQUEST = {"https": "on", "http_host": "signin.aws.amazon.com", "script_name": "/saml",
           "server_port": "443", "get_data": {}, "post_data": {}}


def verify(s, b64):
    resp = OneLogin_Saml2_Response(s, b64)
    resp.is_valid(REQUEST, raise_exceptions=True)
    attrs = resp.get_attributes()
    if attrs.get(ROLE) != [m["role"]]:
        raise ValueError("role attribute missing")
    return resp.get_nameid(), attrs


strict = settings(m["audience"])
assert verify(strict, valid)[0] == "alice@example.com"
must_fail("the tampered SAML Response", lambda: verify(strict, tampered))
other = settings("urn:example:another-sp")
must_fail("a SAML Response for another audience", lambda: verify(other, valid))

report("python3-saml", "python3-saml", time_loop(warmup, seconds, lambda: verify(strict, valid)))
