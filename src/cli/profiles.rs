//! `fedbroker profiles --broker URL [--write] [--prefix P]`: one AWS `[profile …]` per role the
//! broker offers, whose `credential_process` is this executable's `credentials` command.
//!
//! Naming: the role's alias, else `<account_id>-<role_name>`, after the prefix; then sanitised to
//! what the AWS config file accepts in a section name without quoting (`A-Z a-z 0-9 . _ -`; any
//! other run of characters becomes one `-`); a name already taken gets `-2`, `-3`, ….
//!
//! With `--write`, the profiles go into `$AWS_CONFIG_FILE` (default `~/.aws/config`) inside a
//! block that this command owns: from the line `# BEGIN fedbroker <broker>` to the line
//! `# END fedbroker <broker>`.
//!
//! Invariants: every byte outside the block is kept as it was; writing the same profiles twice
//! gives the same file; a file with more than one block for the broker, or a begin without its end
//! (or the reverse), is refused with an error and not written; the file keeps its mode (a new one
//! is created 0600) and is replaced atomically; a symbolic link is followed (its target is
//! rewritten, the link stays).

use crate::cli::broker_client::{BrokerUrl, RoleEntry};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A profile to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub role_arn: String,
    pub region: Option<String>,
}

/// Keep `A-Z a-z 0-9 . _ -`; a run of anything else becomes one `-`; no `-` at either end.
pub fn sanitise(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// The profile name of one role (before de-duplication).
pub fn profile_name(prefix: &str, role: &RoleEntry) -> String {
    let base = match role.alias.as_deref().filter(|a| !a.trim().is_empty()) {
        Some(alias) => alias.to_string(),
        None => {
            let (account, name) = account_and_name(role);
            format!("{account}-{name}")
        }
    };
    let name = sanitise(&format!("{prefix}{base}"));
    if name.is_empty() {
        "fedbroker-role".into()
    } else {
        name
    }
}

/// The account id and role name, from the answer or else from the ARN
/// (`arn:<partition>:iam::<account>:role/<path/>name`).
fn account_and_name(role: &RoleEntry) -> (String, String) {
    let mut parts = role.role_arn.splitn(6, ':');
    let account = parts.nth(4).unwrap_or_default();
    let name = parts
        .next()
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or_default();
    let pick = |given: &str, derived: &str| {
        if given.is_empty() {
            derived.to_string()
        } else {
            given.to_string()
        }
    };
    (pick(&role.account_id, account), pick(&role.role_name, name))
}

/// Profiles for every role, names made unique in order.
pub fn profiles(prefix: &str, roles: &[RoleEntry]) -> Vec<Profile> {
    let mut taken = BTreeSet::new();
    roles
        .iter()
        .map(|role| {
            let base = profile_name(prefix, role);
            let mut name = base.clone();
            let mut n = 2;
            while !taken.insert(name.clone()) {
                name = format!("{base}-{n}");
                n += 1;
            }
            Profile {
                name,
                role_arn: role.role_arn.clone(),
                region: role.region.clone().filter(|r| !r.is_empty()),
            }
        })
        .collect()
}

/// One word of the `credential_process` command line, double-quoted when it needs it (the SDKs
/// split the line like a POSIX shell).
pub fn quote_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | '\\' | '#' | ';' | '$' | '`'));
    if plain {
        return word.to_string();
    }
    let mut out = String::from("\"");
    for c in word.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

pub fn begin_marker(broker: &BrokerUrl) -> String {
    format!("# BEGIN fedbroker {broker}")
}

pub fn end_marker(broker: &BrokerUrl) -> String {
    format!("# END fedbroker {broker}")
}

/// The `[profile …]` sections (no markers), each followed by a blank line but the last.
pub fn render_profiles(broker: &BrokerUrl, exe: &str, profiles: &[Profile]) -> String {
    let sections: Vec<String> = profiles
        .iter()
        .map(|p| {
            let mut s = format!(
                "[profile {}]\ncredential_process = {} credentials --broker {} --role {}\n",
                p.name,
                quote_word(exe),
                quote_word(broker.key()),
                quote_word(&p.role_arn)
            );
            if let Some(region) = &p.region {
                s.push_str(&format!("region = {region}\n"));
            }
            s
        })
        .collect();
    sections.join("\n")
}

/// The whole owned block, markers included, ending with a newline.
pub fn render_block(broker: &BrokerUrl, exe: &str, profiles: &[Profile]) -> String {
    format!(
        "{}\n# Written by `fedbroker profiles --write`: rewritten on each run, edit outside this block.\n{}{}\n",
        begin_marker(broker),
        render_profiles(broker, exe, profiles),
        end_marker(broker)
    )
}

/// `existing` with the broker's block replaced by `block` (appended when there is none).
pub fn rewrite(existing: &str, broker: &BrokerUrl, block: &str) -> Result<String, String> {
    let (begin, end) = (begin_marker(broker), end_marker(broker));
    let lines: Vec<&str> = existing.split_inclusive('\n').collect();
    let is = |line: &str, marker: &str| line.trim_end() == marker;
    let begins: Vec<usize> = (0..lines.len()).filter(|&i| is(lines[i], &begin)).collect();
    let ends: Vec<usize> = (0..lines.len()).filter(|&i| is(lines[i], &end)).collect();
    match (begins.as_slice(), ends.as_slice()) {
        ([], []) => {
            let mut out = existing.to_string();
            if !out.is_empty() {
                if !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push('\n');
            }
            out.push_str(block);
            Ok(out)
        }
        ([b], [e]) if b < e => {
            let mut out: String = lines[..*b].concat();
            out.push_str(block);
            out.push_str(&lines[e + 1..].concat());
            Ok(out)
        }
        _ => Err(format!(
            "the AWS config file has {} `{begin}` and {} `{end}` line(s), not one block; \
             fix it by hand (keep one complete block or none) and run again",
            begins.len(),
            ends.len()
        )),
    }
}

/// Rewrite the broker's block in the AWS config file at `path`.
pub fn write_block(path: &Path, broker: &BrokerUrl, block: &str) -> Result<(), String> {
    // Follow a symbolic link so the link itself survives the rename.
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let (existing, mode) = match std::fs::read(&path) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("{} is not UTF-8 text; not touching it", path.display()))?;
            let mode = std::fs::metadata(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?
                .permissions()
                .mode()
                & 0o7777;
            (text, mode)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::cli::state::ensure_private_dir(dir)?;
            }
            (String::new(), 0o600)
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let updated =
        rewrite(&existing, broker, block).map_err(|e| format!("{}: {e}", path.display()))?;
    if updated == existing {
        return Ok(());
    }
    crate::cli::state::write_atomic(&path, updated.as_bytes(), mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(arn: &str, alias: Option<&str>, region: Option<&str>) -> RoleEntry {
        RoleEntry {
            role_arn: arn.into(),
            alias: alias.map(Into::into),
            account_id: String::new(),
            role_name: String::new(),
            mode: None,
            region: region.map(Into::into),
        }
    }

    fn broker() -> BrokerUrl {
        BrokerUrl::parse("https://b.example").unwrap()
    }

    #[test]
    fn names_come_from_the_alias_else_account_and_role_and_are_sanitised() {
        let r = role("arn:aws:iam::111122223333:role/ops/Admin", None, None);
        assert_eq!(profile_name("", &r), "111122223333-Admin");
        assert_eq!(profile_name("corp-", &r), "corp-111122223333-Admin");
        let r = role("arn:aws:iam::1:role/x", Some("Prod Admin [eu]"), None);
        assert_eq!(profile_name("", &r), "Prod-Admin-eu");
        assert_eq!(sanitise("a]b#c;d e"), "a-b-c-d-e");
        assert_eq!(sanitise("--ok.name_1--"), "ok.name_1");
        assert_eq!(
            profile_name("", &role("x", Some("]]"), None)),
            "fedbroker-role"
        );
    }

    #[test]
    fn duplicate_names_get_a_suffix() {
        let roles = [
            role("arn:aws:iam::1:role/a", Some("dev"), None),
            role("arn:aws:iam::2:role/b", Some("dev"), Some("eu-west-1")),
        ];
        let p = profiles("", &roles);
        assert_eq!(p[0].name, "dev");
        assert_eq!(p[1].name, "dev-2");
        assert_eq!(p[1].region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn paths_with_spaces_are_quoted() {
        assert_eq!(quote_word("/usr/bin/fedbroker"), "/usr/bin/fedbroker");
        assert_eq!(
            quote_word("/Users/A B/bin/fedbroker"),
            "\"/Users/A B/bin/fedbroker\""
        );
        assert_eq!(quote_word("a\"b$c"), "\"a\\\"b\\$c\"");
        let p = profiles(
            "",
            &[role(
                "arn:aws:iam::1:role/r",
                Some("dev"),
                Some("eu-west-1"),
            )],
        );
        assert_eq!(
            render_profiles(&broker(), "/opt/my tools/fedbroker", &p),
            "[profile dev]\ncredential_process = \"/opt/my tools/fedbroker\" credentials \
             --broker https://b.example --role arn:aws:iam::1:role/r\nregion = eu-west-1\n"
        );
    }

    fn block(names: &[&str]) -> String {
        let roles: Vec<RoleEntry> = names
            .iter()
            .map(|n| role(&format!("arn:aws:iam::1:role/{n}"), Some(n), None))
            .collect();
        render_block(&broker(), "/bin/fedbroker", &profiles("", &roles))
    }

    #[test]
    fn the_block_is_appended_then_replaced_leaving_the_rest_untouched() {
        let before = "[default]\nregion = eu-west-1\n# my comment\n\n[profile mine]\nregion=x";
        let once = rewrite(before, &broker(), &block(&["a", "b"])).unwrap();
        assert!(once.starts_with(before), "{once}");
        assert!(once.contains("[profile a]") && once.contains("[profile b]"));
        // Idempotent.
        assert_eq!(
            rewrite(&once, &broker(), &block(&["a", "b"])).unwrap(),
            once
        );
        // Content after the block survives a rewrite with other roles.
        let with_tail = format!("{once}\n[profile after]\noutput = json\n");
        let again = rewrite(&with_tail, &broker(), &block(&["c"])).unwrap();
        assert!(again.starts_with(before));
        assert!(
            again.ends_with("\n[profile after]\noutput = json\n"),
            "{again}"
        );
        assert!(again.contains("[profile c]") && !again.contains("[profile a]"));
        // Another broker's block is someone else's.
        let other = BrokerUrl::parse("https://other.example").unwrap();
        let both = rewrite(&again, &other, &render_block(&other, "/bin/f", &[])).unwrap();
        assert!(both.starts_with(&again));
        assert_eq!(rewrite(&both, &broker(), &block(&["c"])).unwrap(), both);
    }

    #[test]
    fn unbalanced_markers_are_refused() {
        let b = broker();
        let begin = begin_marker(&b);
        let end = end_marker(&b);
        for text in [
            format!("{begin}\n[profile x]\n"),
            format!("[profile x]\n{end}\n"),
            format!("{end}\n{begin}\n"),
            format!("{begin}\n{end}\n{begin}\n{end}\n"),
        ] {
            let e = rewrite(&text, &b, &block(&["a"])).unwrap_err();
            assert!(e.contains("fix it by hand"), "{e}");
        }
    }

    #[test]
    fn writing_keeps_the_mode_creates_0600_and_refuses_a_broken_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("aws").join("config");
        write_block(&path, &broker(), &block(&["a"])).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_block(&path, &broker(), &block(&["b"])).unwrap();
        assert_eq!(mode(&path), 0o640);
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("[profile b]"));
        // Through a symbolic link: the target is rewritten, the link stays.
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        write_block(&link, &broker(), &block(&["c"])).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("[profile c]"));
        // Unbalanced: refused, file unchanged.
        let broken = format!("[default]\n{}\n", begin_marker(&broker()));
        std::fs::write(&path, &broken).unwrap();
        assert!(write_block(&path, &broker(), &block(&["a"])).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
    }
}
