//! Tampered copies of genuine Responses: one thing changed after signing (a NameID character, a
//! SignatureValue character, every Issuer, a ciphertext character). Pure string edits on the
//! decoded XML, so that the document stays well-formed and only the named value differs.

/// The tamper operations a fixture may list (see [`tamper`]).
pub const TAMPER_KINDS: &[&str] = &["nameid", "signature_value", "issuer", "ciphertext"];

/// A copy of `xml` with one thing changed after signing, or None when it has no such thing:
/// `nameid` (first NameID character), `signature_value` (a base64 character of the first
/// SignatureValue), `issuer` (every Issuer's text), `ciphertext` (a base64 character in the
/// middle of the largest CipherValue).
pub fn tamper(kind: &str, xml: &str) -> Option<String> {
    match kind {
        "nameid" => {
            let start = element_text_start(xml, "NameID", 0)?;
            flip_char_at(xml, start)
        }
        "signature_value" => {
            let start = element_text_start(xml, "SignatureValue", 0)?;
            flip_char_at(xml, start + 10)
        }
        "issuer" => {
            let mut out = xml.to_owned();
            let mut from = 0;
            let mut changed = false;
            while let Some(start) = element_text_start(&out, "Issuer", from) {
                let end = start + out[start..].find('<')?;
                out.replace_range(start..end, "https://attacker.invalid/idp");
                from = start;
                changed = true;
            }
            changed.then_some(out)
        }
        "ciphertext" => {
            let mut best: Option<(usize, usize)> = None;
            let mut from = 0;
            while let Some(start) = element_text_start(xml, "CipherValue", from) {
                let len = xml[start..].find('<')?;
                if best.is_none_or(|(_, l)| len > l) {
                    best = Some((start, len));
                }
                from = start;
            }
            let (start, len) = best?;
            flip_char_at(xml, start + len / 2)
        }
        _ => None,
    }
}

/// Byte offset of the text of the first `local` element (any prefix) at or after `from`.
fn element_text_start(xml: &str, local: &str, from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let i = at + xml[at..].find(local)?;
        at = i + local.len();
        let before = xml[..i].chars().next_back()?;
        let after = xml[at..].chars().next()?;
        let is_start_tag = (before == '<' || before == ':')
            && (after == '>' || after == ' ')
            && xml[..i]
                .rfind('<')
                .is_some_and(|lt| !xml[lt..i].contains(['>', '/']));
        if is_start_tag {
            let gt = at + xml[at..].find('>')?;
            if xml[..gt].ends_with('/') {
                continue;
            }
            return Some(gt + 1);
        }
    }
}

/// Replaces the alphanumeric character at `at` (or the next one) with another alphanumeric one.
fn flip_char_at(xml: &str, at: usize) -> Option<String> {
    let (i, c) = xml[at..]
        .char_indices()
        .map(|(j, c)| (at + j, c))
        .find(|(_, c)| c.is_ascii_alphanumeric())?;
    let replacement = match c {
        'A' => 'B',
        'a' => 'b',
        '0' => '1',
        _ if c.is_ascii_uppercase() => 'A',
        _ if c.is_ascii_lowercase() => 'a',
        _ => '0',
    };
    let mut out = xml.to_owned();
    out.replace_range(i..i + 1, &replacement.to_string());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tampers_change_exactly_what_they_name() {
        let xml = r#"<p:Response IssueInstant="x"><a:Issuer>https://idp</a:Issuer><a:Assertion><a:Issuer>https://idp</a:Issuer><ds:SignatureValue>QUJDREVGR0hJSktMTU5PUA==</ds:SignatureValue><a:Subject><a:NameID Format="f">alice@example.com</a:NameID></a:Subject><x:CipherValue>AAAA</x:CipherValue><x:CipherValue>QkJCQkJCQkI=</x:CipherValue></a:Assertion></p:Response>"#;
        let t = tamper("nameid", xml).unwrap();
        assert!(t.contains(">blice@example.com<"), "{t}");
        let t = tamper("issuer", xml).unwrap();
        assert_eq!(t.matches("https://attacker.invalid/idp").count(), 2);
        assert!(t.contains(r#"IssueInstant="x""#));
        let t = tamper("signature_value", xml).unwrap();
        assert_ne!(t, xml);
        assert!(t.contains("CipherValue>AAAA<"));
        let t = tamper("ciphertext", xml).unwrap();
        assert!(
            t.contains("CipherValue>AAAA<") && !t.contains("QkJCQkJCQkI="),
            "{t}"
        );
        assert_eq!(tamper("nameid", "<a:NameID/>"), None);
    }
}
