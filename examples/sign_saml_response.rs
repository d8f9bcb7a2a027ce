//! Print a freshly signed, base64 SAMLResponse from the TEST IdP (keys in `certs/`, test only).
//!
//! ```text
//! cargo run --example sign_saml_response -- --role arn:aws:iam::111122223333:role/ReadOnly,arn:aws:iam::111122223333:saml-provider/TestIdp
//! curl -d "SAMLResponse=$(cargo run -q --example sign_saml_response | jq -sRr @uri)" http://127.0.0.1:8080/v1/saml/credentials
//! ```
//! Defaults match `config/test-idp-metadata.xml` and AWS (audience `urn:amazon:webservices`,
//! recipient/destination `https://signin.aws.amazon.com/saml`). Shares its code with the tests.

#[path = "../tests/all/support/saml_idp.rs"]
mod saml_idp;

use clap::Parser;
use saml_idp::{DigestAlg, KeyPair, SamlResponseBuilder, SigAlg, SignWhat};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(about = "Sign a SAML Response with the test IdP key (test/demo only)")]
struct Args {
    /// Private key (PEM or DER). Default: certs/test-idp.key.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Certificate (PEM or DER). Default: certs/test-idp.crt.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// `role-arn,provider-arn`; repeat for several roles.
    #[arg(long = "role")]
    roles: Vec<String>,
    #[arg(long, default_value = "alice")]
    session_name: String,
    /// NameID (subject).
    #[arg(long, default_value = "alice@example.com")]
    subject: String,
    #[arg(long, default_value = saml_idp::AWS_RECIPIENT)]
    recipient: String,
    #[arg(long, default_value = saml_idp::AWS_AUDIENCE)]
    audience: String,
    #[arg(long, default_value = saml_idp::TEST_IDP_ENTITY_ID)]
    issuer: String,
    /// Seconds from now until NotOnOrAfter.
    #[arg(long, default_value_t = 300)]
    lifetime_secs: i64,
    /// What to sign: response, assertion or both.
    #[arg(long, default_value = "response")]
    sign: String,
    /// Print the XML instead of base64.
    #[arg(long)]
    xml: bool,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let key = match (&args.key, &args.cert) {
        (None, None) => KeyPair::test_idp(),
        (Some(k), Some(c)) => KeyPair::from_files(k, c)?,
        _ => return Err("--key and --cert go together".into()),
    };
    let is_ec = openssl::pkey::PKey::private_key_from_der(&key.key_der)
        .map_err(|e| e.to_string())?
        .ec_key()
        .is_ok();
    let now = chrono::Utc::now();
    let end = now + chrono::Duration::seconds(args.lifetime_secs);
    let mut b = SamlResponseBuilder::new(now).key(key);
    if is_ec {
        b = b.algorithms(SigAlg::EcdsaSha256, DigestAlg::Sha256);
    }
    b.sign = match args.sign.as_str() {
        "response" => SignWhat::Response,
        "assertion" => SignWhat::Assertion,
        "both" => SignWhat::Both,
        other => return Err(format!("--sign {other}: use response, assertion or both")),
    };
    b.issuer = Some(args.issuer.clone());
    b.assertion_issuer = Some(args.issuer);
    b.response_id = format!("_{}", uuid::Uuid::new_v4());
    b.assertion_id = format!("_{}", uuid::Uuid::new_v4());
    b.name_id = Some(args.subject);
    b.audiences = vec![args.audience];
    b.recipient = Some(args.recipient.clone());
    b.destination = Some(args.recipient);
    b.not_on_or_after = Some(end);
    b.subject_not_on_or_after = Some(end);
    if !args.roles.is_empty() {
        let roles: Vec<&str> = args.roles.iter().map(String::as_str).collect();
        b = b.roles(&roles);
    }
    b = b.attribute(saml_idp::ATTR_SESSION_NAME, &[&args.session_name]);
    let xml = b.build_xml();
    if args.xml {
        println!("{xml}");
    } else {
        println!("{}", saml_idp::b64(&xml));
    }
    Ok(())
}
