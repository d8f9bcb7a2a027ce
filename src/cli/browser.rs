//! Opening a URL in the person's browser: `$BROWSER` when set, else `open` (macOS) or `xdg-open`.
//!
//! Invariants: the browser is started, never waited for; on Linux without a display (`DISPLAY`,
//! `WAYLAND_DISPLAY`) and no `$BROWSER`, nothing is started; the caller prints the URL when this
//! returns `false` (and the sign-in commands print it in any case).

use std::process::{Command, Stdio};

/// The program and arguments that would open `url`; `None` when there is no way to open one.
pub fn command_for(browser_env: Option<&str>, has_display: bool, url: &str) -> Option<Vec<String>> {
    if let Some(spec) = browser_env {
        // `$BROWSER` may list several commands separated by `:`; the first is used. `%s` stands
        // for the URL; without it the URL is the last argument.
        let first = spec.split(':').next().unwrap_or_default().trim();
        let mut words: Vec<String> = first.split_whitespace().map(str::to_owned).collect();
        if words.is_empty() {
            return None;
        }
        if words.iter().any(|w| w.contains("%s")) {
            for w in &mut words {
                *w = w.replace("%s", url);
            }
        } else {
            words.push(url.to_owned());
        }
        return Some(words);
    }
    if cfg!(target_os = "macos") {
        return Some(vec!["open".into(), url.into()]);
    }
    has_display.then(|| vec!["xdg-open".into(), url.into()])
}

/// Start the browser on `url`; `true` when a program was started.
pub fn open(browser_env: Option<&str>, url: &str) -> bool {
    let has_display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
    let Some(argv) = command_for(browser_env, has_display, url) else {
        return false;
    };
    Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_variable_wins_and_percent_s_is_the_url() {
        assert_eq!(
            command_for(Some("firefox --new-tab:chromium"), false, "https://u"),
            Some(vec![
                "firefox".into(),
                "--new-tab".into(),
                "https://u".into()
            ])
        );
        assert_eq!(
            command_for(Some("w3m %s"), false, "https://u"),
            Some(vec!["w3m".into(), "https://u".into()])
        );
        assert_eq!(command_for(Some("  "), true, "https://u"), None);
    }

    #[test]
    fn without_a_display_nothing_is_started_on_linux() {
        if cfg!(target_os = "linux") {
            assert_eq!(command_for(None, false, "https://u"), None);
            assert_eq!(
                command_for(None, true, "https://u"),
                Some(vec!["xdg-open".into(), "https://u".into()])
            );
        }
    }
}
