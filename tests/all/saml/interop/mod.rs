//! Interoperability corpus: SAML Responses produced by real IdPs (Okta, OneLogin, Shibboleth, ...)
//! run through the real `fedbroker saml-check` binary, each at its own IssueInstant, with the
//! verdict that tests/all/saml/interop/corpus.toml expects; plus tampered copies of them that must fail.
//!
//! Invariants:
//! - No fixture is committed. Each comes from a pinned registry package that scripts/setup.sh
//!   unpacks into `.interop-cache/` (git-ignored); the sha256 of every package file used is
//!   checked before use. A missing package fails the test with the command to run (never a skip).
//! - The trusted IdP certificate comes from the package (its certificate or test-configuration
//!   file), never from the Response's own KeyInfo; the test wraps it in IdP metadata with the
//!   manifest's entity ID.
//! - Every fixture runs against a config of its own (audiences, recipients, algorithm and
//!   decryption opt-ins from the manifest) plus one `assume-role` mapping rule, so an accepted
//!   Response must be offered exactly that rule's role.

mod harness;

use harness::{
    corpus, load_corpus, run_check, tamper, CheckRun, Corpus, Fixture, ROLE_ARN, TAMPER_KINDS,
};

/// Every manifest entry is complete enough to be audited: product, licence, source commit,
/// sha256 of each file, an instant, a reason, and a code for each refusal.
#[test]
fn interop_manifest_entries_are_complete() {
    let corpus = load_corpus();
    assert!(!corpus.fixture.is_empty(), "the corpus has no fixture");
    let mut names = std::collections::BTreeSet::new();
    for f in &corpus.fixture {
        assert!(
            names.insert(f.name.as_str()),
            "{}: duplicate fixture name",
            f.name
        );
        let pkg = corpus.package(&f.package);
        assert!(!pkg.licence.trim().is_empty(), "{}: no licence", pkg.id);
        assert_eq!(
            pkg.source_commit.len(),
            40,
            "{}: source_commit is not a commit",
            pkg.id
        );
        assert_eq!(
            pkg.source_repo.split('/').count(),
            2,
            "{}: source_repo is not owner/name",
            pkg.id
        );
        assert!(!f.product.trim().is_empty(), "{}: no product", f.name);
        assert!(!f.algorithm.trim().is_empty(), "{}: no algorithm", f.name);
        assert!(!f.expect.why.trim().is_empty(), "{}: no why", f.name);
        for src in [
            Some(&f.response),
            Some(&f.idp_cert),
            f.decryption_key.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            assert_eq!(
                src.sha256.len(),
                64,
                "{}: {} has no sha256",
                f.name,
                src.path
            );
        }
        chrono::DateTime::parse_from_rfc3339(&f.at)
            .unwrap_or_else(|e| panic!("{}: `at` is not RFC 3339: {e}", f.name));
        if f.expect.accepted {
            assert!(f.expect.code.is_none(), "{}: accepted with a code", f.name);
            assert!(
                f.expect.subject.is_some() && f.expect.issuer.is_some(),
                "{}",
                f.name
            );
            assert!(f.expect.config_refused.is_none(), "{}", f.name);
        } else if f.expect.config_refused.is_some() {
            assert!(
                f.expect.code.is_none() && f.expect.tamper.is_empty(),
                "{}",
                f.name
            );
        } else {
            assert!(
                f.expect.code.is_some(),
                "{}: refused without a code",
                f.name
            );
        }
        if f.decryption_key.is_some() {
            assert!(
                f.encrypted,
                "{}: a decryption key for a plaintext Response",
                f.name
            );
        }
        for t in &f.expect.tamper {
            assert!(
                TAMPER_KINDS.contains(&t.as_str()),
                "{}: unknown tamper {t}",
                f.name
            );
        }
    }
}

/// Every package file the manifest names is there with its pinned sha256, every Response and
/// certificate can be extracted, and `at` is the Response's own IssueInstant.
#[test]
fn interop_fixture_files_match_the_manifest() {
    let corpus = corpus();
    for f in &corpus.fixture {
        let xml = f.response_xml(&corpus);
        assert!(
            xml.contains(&format!("IssueInstant=\"{}\"", f.at)),
            "{}: `at` {} is not the Response's IssueInstant",
            f.name,
            f.at
        );
        assert_eq!(
            xml.contains("EncryptedAssertion"),
            f.encrypted,
            "{}: `encrypted`",
            f.name
        );
        assert!(!f.idp_cert_base64(&corpus).is_empty(), "{}", f.name);
    }
}

/// Each genuine Response gets the verdict the manifest states; all failures are listed at once.
#[test]
fn interop_fixtures_get_their_expected_verdict() {
    let corpus = corpus();
    let mut failures = Vec::new();
    for f in &corpus.fixture {
        let response = f.response_bytes(&corpus);
        let run = run_check(&corpus, f, &response);
        if let Err(why) = check_verdict(&corpus, f, &run) {
            failures.push(format!("{}: {why}\n    output: {}", f.name, run.summary()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} interop fixtures got an unexpected verdict:\n{}",
        failures.len(),
        corpus.fixture.len(),
        failures.join("\n")
    );
}

/// Tampered copies of the genuine Responses (NameID, SignatureValue, Issuer, ciphertext changed
/// after signing) are refused, never accepted, whatever the fixture.
#[test]
fn interop_tampered_copies_are_refused() {
    let corpus = corpus();
    let mut failures = Vec::new();
    let mut ran = 0;
    for f in &corpus.fixture {
        for kind in &f.expect.tamper {
            let xml = f.response_xml(&corpus);
            let tampered = tamper(kind, &xml)
                .unwrap_or_else(|| panic!("{}: tamper {kind} found nothing to change", f.name));
            assert_ne!(tampered, xml, "{}: tamper {kind} changed nothing", f.name);
            let run = run_check(&corpus, f, tampered.as_bytes());
            ran += 1;
            if let Err(why) = check_tamper(kind, &run) {
                failures.push(format!(
                    "{} + {kind}: {why}\n    output: {}",
                    f.name,
                    run.summary()
                ));
            }
        }
    }
    assert!(ran >= 5, "only {ran} tampered copies ran");
    assert!(
        failures.is_empty(),
        "{} of {ran} tampered copies were not refused as expected:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn check_verdict(corpus: &Corpus, f: &Fixture, run: &CheckRun) -> Result<(), String> {
    if let Some(text) = &f.expect.config_refused {
        if run.exit != Some(2) || !run.stderr.contains(text.as_str()) {
            return Err(format!("expected exit 2 (configuration refused: {text:?})"));
        }
        return Ok(());
    }
    let json = run.json()?;
    let accepted = json["accepted"].as_bool().ok_or("no boolean `accepted`")?;
    let want_exit = if f.expect.accepted { 0 } else { 1 };
    if accepted != f.expect.accepted {
        return Err(format!(
            "accepted = {accepted}, expected {} (code {:?})",
            f.expect.accepted, json["code"]
        ));
    }
    if run.exit != Some(want_exit) {
        return Err(format!("exit status {:?}, expected {want_exit}", run.exit));
    }
    match json["encrypted"].as_bool() {
        Some(e) if e != f.encrypted => {
            return Err(format!("encrypted = {e}, expected {}", f.encrypted));
        }
        None if f.expect.accepted => return Err("no boolean `encrypted`".into()),
        _ => {}
    }
    if f.expect.accepted {
        let issuer = json["issuer"].as_str();
        if issuer != f.expect.issuer.as_deref() {
            return Err(format!("issuer {issuer:?}, expected {:?}", f.expect.issuer));
        }
        let subject = json["subject"].as_str();
        if subject != f.expect.subject.as_deref() {
            return Err(format!(
                "subject {subject:?}, expected {:?}",
                f.expect.subject
            ));
        }
        let roles = json["roles"].to_string();
        if !roles.contains(ROLE_ARN) {
            return Err(format!("roles {roles} do not offer {ROLE_ARN}"));
        }
        let sig = &json["signature"];
        if sig["signed"].as_str() != f.expect.signed.as_deref() {
            return Err(format!(
                "signature.signed {}, expected {:?}",
                sig["signed"], f.expect.signed
            ));
        }
        // A stable name (`rsa-sha256`) or the SignatureMethod URI ending in `#rsa-sha256`; two
        // signatures that differ are joined by `+`.
        let method = sig["algorithm"].as_str().unwrap_or("");
        let want = f.expect.signature_method.as_deref().unwrap_or("?");
        let same = |m: &str| m == want || m.strip_suffix(want).is_some_and(|p| p.ends_with('#'));
        if method.is_empty() || !method.split('+').all(same) {
            return Err(format!("signature.algorithm {method:?}, expected {want}"));
        }
        let fingerprint = f.idp_cert_fingerprint(corpus);
        if sig["key_fingerprint"].as_str() != Some(fingerprint.as_str()) {
            return Err(format!(
                "signature.key_fingerprint {}, expected the package certificate's {fingerprint}",
                sig["key_fingerprint"]
            ));
        }
    } else {
        let code = json["code"].as_str();
        if code != f.expect.code.as_deref() {
            return Err(format!("code {code:?}, expected {:?}", f.expect.code));
        }
    }
    Ok(())
}

/// The codes a tampered copy may be refused with: the change must be caught by the check that
/// owns it (a signature, the issuer trust, or decryption), not slip through.
fn check_tamper(kind: &str, run: &CheckRun) -> Result<(), String> {
    let json = run.json()?;
    if json["accepted"].as_bool() != Some(false) || run.exit != Some(1) {
        return Err(format!("not refused (exit {:?})", run.exit));
    }
    let code = json["code"].as_str().unwrap_or("");
    let allowed: &[&str] = match kind {
        "nameid" | "signature_value" => &["saml_signature_invalid"],
        "issuer" => &[
            "saml_issuer_unknown",
            "saml_issuer_mismatch",
            "saml_signature_invalid",
        ],
        // One uniform decryption error; a Response signature over the ciphertext fails first.
        "ciphertext" => &["saml_decryption_failed", "saml_signature_invalid"],
        _ => &[],
    };
    if allowed.contains(&code) {
        Ok(())
    } else {
        Err(format!(
            "refused with {code:?}, expected one of {allowed:?}"
        ))
    }
}
