//! User codes of the device grant: what a person types or sees on the approval page.
//!
//! Invariants: 8 characters drawn uniformly (rejection sampling) by the CSPRNG from
//! [`ALPHABET`] (20 consonants: no vowels, so no words; no digits, so no 0/O, 1/I, 5/S, 8/B
//! confusion), about 34.6 bits; shown as `XXXX-XXXX`; input is normalised (upper case,
//! dashes and white space dropped) before it is looked up, and anything else is refused without
//! a lookup.

/// The characters of a user code (RFC 8628 §6.1's suggested set).
pub const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters in a user code (without the dash).
pub const LEN: usize = 8;

/// A new user code, normalised (no dash).
pub fn generate() -> String {
    let mut out = String::with_capacity(LEN);
    let mut buf = [0u8; 32];
    while out.len() < LEN {
        // The operating system's generator does not fail once the process runs; a failure must
        // not yield a predictable code.
        aws_lc_rs::rand::fill(&mut buf).expect("the system CSPRNG failed");
        for b in buf {
            // 240 = 12 × 20: below it every character is equally likely.
            if b < 240 && out.len() < LEN {
                out.push(char::from(ALPHABET[usize::from(b % 20)]));
            }
        }
    }
    out
}

/// The normalised form of what a person typed (`None`: cannot be a user code).
pub fn normalise(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// `XXXX-XXXX` from a normalised code.
pub fn display(code: &str) -> String {
    match (code.get(..4), code.get(4..)) {
        (Some(a), Some(b)) => format!("{a}-{b}"),
        _ => code.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_the_alphabet_and_are_shown_with_a_dash() {
        for _ in 0..200 {
            let c = generate();
            assert_eq!(c.len(), LEN);
            assert!(c.bytes().all(|b| ALPHABET.contains(&b)), "{c}");
            let shown = display(&c);
            assert_eq!(shown.len(), 9);
            assert_eq!(&shown[4..5], "-");
            assert_eq!(normalise(&shown).as_deref(), Some(c.as_str()));
        }
        assert!(!ALPHABET.iter().any(|b| b"AEIOUY0123456789".contains(b)));
    }

    #[test]
    fn input_is_normalised_and_anything_else_is_refused() {
        assert_eq!(normalise("bcdf-ghjk").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalise(" BCDF GHJK\t").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalise("B-C-D-F-G-H-J-K").as_deref(), Some("BCDFGHJK"));
        for bad in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "BCDF-GHJA",
            "BCDF-GHJ0",
            "BCDF_GHJK",
            "ВCDF-GHJK",
        ] {
            assert_eq!(normalise(bad), None, "{bad}");
        }
    }
}
