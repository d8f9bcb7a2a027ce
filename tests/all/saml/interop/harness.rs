//! The interop corpus harness: reads tests/all/saml/interop/corpus.toml, finds each fixture's files in the
//! registry packages that scripts/setup.sh unpacked into `.interop-cache/`, checks their sha256,
//! extracts the Response / certificate / key, writes a per-fixture config and IdP metadata, and
//! runs `fedbroker saml-check --json`. The changes made to Responses after signing are in
//! `tamper.rs`.
//!
//! Invariants: every byte used comes from a package file whose sha256 matches the manifest; the
//! trusted certificate is the package's, wrapped in metadata here (never the Response's KeyInfo);
//! a missing cache is a failure that names scripts/setup.sh.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[path = "tamper.rs"]
mod tamper;
pub use tamper::{tamper, TAMPER_KINDS};

/// The role the one mapping rule of every fixture's config grants.
pub const ROLE_ARN: &str = "arn:aws:iam::111122223333:role/InteropCorpus";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Corpus {
    pub package: Vec<Package>,
    pub fixture: Vec<Fixture>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub id: String,
    pub registry: String,
    pub name: String,
    pub version: String,
    pub licence: String,
    pub source_repo: String,
    pub source_commit: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    pub name: String,
    pub package: String,
    pub product: String,
    pub encrypted: bool,
    pub algorithm: String,
    pub entity_id: String,
    pub at: String,
    pub response: Source,
    pub idp_cert: Source,
    pub decryption_key: Option<Source>,
    #[serde(default)]
    pub config: toml::Table,
    pub expect: Expect,
}

/// A file inside a package, or a JavaScript string literal inside that file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub path: String,
    pub sha256: String,
    pub anchor: Option<String>,
    pub literal: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub accepted: bool,
    /// saml-check refuses the configuration itself (exit 2), with this text in its error.
    pub config_refused: Option<String>,
    pub code: Option<String>,
    pub issuer: Option<String>,
    pub subject: Option<String>,
    /// Accepted: which elements carry a verified signature (`response`, `assertion`, `both`).
    pub signed: Option<String>,
    /// Accepted: the SignatureMethod URI's fragment, e.g. `rsa-sha256`.
    pub signature_method: Option<String>,
    pub why: String,
    #[serde(default)]
    pub tamper: Vec<String>,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The manifest alone (no package needed).
pub fn load_corpus() -> Corpus {
    let path = repo_root().join("tests/all/saml/interop/corpus.toml");
    let text = std::fs::read_to_string(&path).expect("read tests/all/saml/interop/corpus.toml");
    let corpus: Corpus = toml::from_str(&text).unwrap_or_else(|e| panic!("corpus.toml: {e}"));
    for f in &corpus.fixture {
        corpus.package(&f.package);
    }
    corpus
}

/// The manifest, with every package it names present in the cache.
pub fn corpus() -> Corpus {
    let corpus = load_corpus();
    for p in &corpus.package {
        let dir = package_dir(p);
        assert!(
            dir.is_dir(),
            "interop package {} {}@{} is missing from {}: run scripts/setup.sh (it downloads \
             the pinned packages of tests/all/saml/interop/packages.txt)",
            p.registry,
            p.name,
            p.version,
            dir.display()
        );
    }
    corpus
}

fn package_dir(p: &Package) -> PathBuf {
    repo_root()
        .join(".interop-cache")
        .join(&p.registry)
        .join(format!("{}-{}", p.name, p.version))
}

impl Corpus {
    pub fn package(&self, id: &str) -> &Package {
        self.package
            .iter()
            .find(|p| p.id == id)
            .unwrap_or_else(|| panic!("corpus.toml names an unknown package {id}"))
    }
}

impl Source {
    /// The bytes this source designates, after checking the package file's sha256.
    fn read(&self, pkg: &Package) -> Vec<u8> {
        let path = package_dir(pkg).join(&self.path);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run scripts/setup.sh to download the interop packages",
                path.display()
            )
        });
        let got = hex::encode(Sha256::digest(&bytes));
        assert_eq!(
            got, self.sha256,
            "{} in {}@{} does not have the sha256 the manifest pins",
            self.path, pkg.name, pkg.version
        );
        match (&self.anchor, &self.literal) {
            (Some(anchor), Some(literal)) => js_literal(&bytes, anchor, literal)
                .unwrap_or_else(|| panic!("{}: no literal {literal:?} after {anchor:?}", self.path))
                .into_bytes(),
            (None, None) => bytes,
            _ => panic!("{}: set both anchor and literal, or neither", self.path),
        }
    }
}

/// The string literal that starts right after the first `literal` following the first `anchor`.
/// The last character of `literal` is the opening quote: a backtick opens a raw string (Go, as
/// in a Go test file: no escapes); `'` or `"` open an escaped one (JavaScript: `\r`, `\n`, `\t`,
/// and `\x` for any other x).
pub fn js_literal(file: &[u8], anchor: &str, literal: &str) -> Option<String> {
    let text = std::str::from_utf8(file).ok()?;
    let quote = literal.chars().next_back()?;
    let from = text.find(anchor)? + anchor.len();
    let start = from + text[from..].find(literal)? + literal.len();
    let rest = &text[start..];
    if quote == '`' {
        return Some(rest[..rest.find('`')?].to_owned());
    }
    if quote != '\'' && quote != '"' {
        return None;
    }
    let mut out = String::new();
    let mut chars = rest.chars();
    loop {
        match chars.next()? {
            c if c == quote => return Some(out),
            '\\' => out.push(match chars.next()? {
                'r' => '\r',
                'n' => '\n',
                't' => '\t',
                c => c,
            }),
            c => out.push(c),
        }
    }
}

fn strip_ws(s: &str) -> String {
    s.chars().filter(|c| !c.is_ascii_whitespace()).collect()
}

/// Base64 of the certificate's DER, from a PEM file or a bare base64 literal.
fn cert_base64(bytes: &[u8]) -> String {
    let text = String::from_utf8(bytes.to_vec()).expect("certificate is text");
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let b64 = strip_ws(&body);
    base64::engine::general_purpose::STANDARD
        .decode(&b64)
        .expect("certificate is base64");
    b64
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Fixture {
    /// The Response exactly as the package carries it (base64 or XML), whitespace-free base64.
    pub fn response_bytes(&self, corpus: &Corpus) -> Vec<u8> {
        let raw = self.response.read(corpus.package(&self.package));
        if raw.trim_ascii_start().starts_with(b"<") {
            raw
        } else {
            strip_ws(std::str::from_utf8(&raw).expect("base64 Response is text")).into_bytes()
        }
    }

    /// The Response as XML text (base64 decoded when the package carries it encoded).
    pub fn response_xml(&self, corpus: &Corpus) -> String {
        let raw = self.response_bytes(corpus);
        let xml = if raw.starts_with(b"<") || raw.trim_ascii_start().starts_with(b"<") {
            raw
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(&raw)
                .expect("Response is base64")
        };
        String::from_utf8(xml).expect("Response is UTF-8")
    }

    /// SHA-256 (hex) of the trusted certificate's DER: the fingerprint saml-check must report.
    pub fn idp_cert_fingerprint(&self, corpus: &Corpus) -> String {
        let der = base64::engine::general_purpose::STANDARD
            .decode(self.idp_cert_base64(corpus))
            .expect("certificate is base64");
        hex::encode(Sha256::digest(der))
    }

    /// The trusted certificate (base64 DER) from the package.
    pub fn idp_cert_base64(&self, corpus: &Corpus) -> String {
        cert_base64(&self.idp_cert.read(corpus.package(&self.package)))
    }

    fn idp_name(&self) -> String {
        self.name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect()
    }

    /// Writes metadata, key and config into `dir`; returns the config path.
    fn write_config(&self, corpus: &Corpus, dir: &Path) -> PathBuf {
        let pkg = corpus.package(&self.package);
        let cert = self.idp_cert_base64(corpus);
        let metadata = format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.invalid/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"#,
            xml_escape(&self.entity_id)
        );
        let md_path = dir.join("idp-metadata.xml");
        std::fs::write(&md_path, metadata).expect("write metadata");

        let mut idp = self.config.clone();
        idp.insert("name".into(), self.idp_name().into());
        idp.insert("metadata_file".into(), md_path.display().to_string().into());
        if let Some(key) = &self.decryption_key {
            let key_path = dir.join("sp-decryption-key.pem");
            std::fs::write(&key_path, key.read(pkg)).expect("write key");
            let files = toml::Value::Array(vec![key_path.display().to_string().into()]);
            idp.insert("decryption_key_files".into(), files);
        }
        let mut config = toml::Table::new();
        config.insert("aws".into(), table([("region", "us-east-1".into())]));
        config.insert("log".into(), table([("level", "warn".into())]));
        config.insert(
            "saml".into(),
            table([("idps", toml::Value::Array(vec![idp.into()]))]),
        );
        let grant = table([
            ("role_arn", ROLE_ARN.into()),
            ("mode", "assume-role".into()),
            ("session_name", "interop-corpus".into()),
        ]);
        let rule = table([
            ("name", "interop-corpus".into()),
            ("match", table([("provider", self.idp_name().into())])),
            ("grants", toml::Value::Array(vec![grant])),
        ]);
        config.insert("rules".into(), toml::Value::Array(vec![rule]));
        let path = dir.join("fedbroker.toml");
        std::fs::write(&path, toml::to_string(&config).expect("config")).expect("write config");
        path
    }
}

fn table<const N: usize>(entries: [(&str, toml::Value); N]) -> toml::Value {
    toml::Value::Table(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// One `saml-check` run: exit status and output.
pub struct CheckRun {
    pub exit: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CheckRun {
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_str(self.stdout.trim())
            .map_err(|e| format!("stdout is not one JSON object ({e}); exit {:?}", self.exit))
    }

    pub fn summary(&self) -> String {
        let cut = |s: &str| s.chars().take(600).collect::<String>();
        format!(
            "exit {:?}; stdout {}; stderr {}",
            self.exit,
            cut(self.stdout.trim()),
            cut(self.stderr.trim())
        )
    }
}

/// Runs `fedbroker saml-check --json` on `response` with the fixture's own config, at its instant.
pub fn run_check(corpus: &Corpus, f: &Fixture, response: &[u8]) -> CheckRun {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = f.write_config(corpus, dir.path());
    let resp_path = dir.path().join("response");
    std::fs::write(&resp_path, response).expect("write response");
    let out = Command::new(env!("CARGO_BIN_EXE_fedbroker"))
        .arg("saml-check")
        .arg("--config")
        .arg(&config)
        .args(["--idp", &f.idp_name(), "--at", &f.at, "--json"])
        .arg(&resp_path)
        .env_clear()
        .envs(inherited_env())
        .output()
        .expect("run fedbroker saml-check");
    CheckRun {
        exit: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The caller's environment less FEDBROKER_* (they would override the generated config) and
/// RUST_LOG (it would change the output).
fn inherited_env() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| !k.starts_with("FEDBROKER_") && k != "RUST_LOG")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_literal_reads_the_literal_after_the_anchor_and_unescapes_it() {
        let js = br"var A = 'x'; { name: 'case two', resp: 'PHN\r\nhbWw\'', cert: 'Q0VSVA==' }";
        assert_eq!(
            js_literal(js, "name: 'case two'", "resp: '").as_deref(),
            Some("PHN\r\nhbWw'")
        );
        assert_eq!(
            js_literal(js, "name: 'case two'", "cert: '").as_deref(),
            Some("Q0VSVA==")
        );
        assert_eq!(js_literal(js, "var A", "'").as_deref(), Some("x"));
        assert_eq!(js_literal(js, "name: 'case three'", "resp: '"), None);
        let go = b"const (\n\tcert = `\n-----BEGIN X-----\nAB\\n\n`\n)";
        assert_eq!(
            js_literal(go, "\tcert", "`").as_deref(),
            Some("\n-----BEGIN X-----\nAB\\n\n")
        );
    }
}
