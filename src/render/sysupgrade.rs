//! What survives a firmware upgrade: our lines in `/etc/sysupgrade.conf` and the
//! package's own list in `/lib/upgrade/keep.d/muros-ha`.
//!
//! sysupgrade reads both as one path per line, skipping blank lines and lines that
//! start with `#`.

/// Paths kept across sysupgrade. `/etc/config/muros_ha` is kept by OpenWrt anyway
/// (all of `/etc/config`), listed so the intent is visible; the rendered files are
/// listed because a router must come back up as a pair member before `render` runs.
/// `/etc/muros-ha/` holds the node state and the fw4 snippet
/// ([`crate::paths::FW4_SNIPPET`]), which fw4 needs at boot, before muros-ha starts.
/// `/etc/hotplug.d/muros-ha/` holds the admin's own transition and alert scripts.
pub const KEEP_PATHS: [&str; 5] = ["/etc/config/muros_ha", "/etc/keepalived/", "/etc/conntrackd/", "/etc/muros-ha/", "/etc/hotplug.d/muros-ha/"];

/// `/lib/upgrade/keep.d/muros-ha`.
pub fn keep_d() -> String {
    let mut s = String::from("# muros-ha: configuration, rendered daemon configs and node state\n");
    for p in KEEP_PATHS {
        s.push_str(p);
        s.push('\n');
    }
    s
}

/// `existing` (the text of `/etc/sysupgrade.conf`) with each of [`KEEP_PATHS`] that is
/// not there yet appended. Other lines are untouched, running it twice changes nothing,
/// and `/etc/keepalived` counts as `/etc/keepalived/`. Returns `existing` itself
/// (byte for byte) when nothing is missing.
pub fn with_our_paths(existing: &str) -> String {
    let present: Vec<&str> = existing.lines().map(normalize).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    let missing: Vec<&str> = KEEP_PATHS.iter().copied().filter(|p| !present.contains(&normalize(p))).collect();
    if missing.is_empty() {
        return existing.to_string();
    }
    let mut out = String::from(existing);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for p in missing {
        out.push_str(p);
        out.push('\n');
    }
    out
}

/// A path as sysupgrade sees it: surrounding blanks and a trailing `/` do not matter.
fn normalize(line: &str) -> &str {
    let t = line.trim_ascii();
    if t.len() > 1 {
        t.trim_end_matches('/')
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STOCK: &str = "## This file contains files and directories that should\n## be preserved during an upgrade.\n\n# /etc/example.conf\n# /etc/openvpn/\n";

    #[test]
    fn stock_file_gets_our_paths_after_its_own_lines() {
        let out = with_our_paths(STOCK);
        assert!(out.starts_with(STOCK));
        assert_eq!(&out[STOCK.len()..], "/etc/config/muros_ha\n/etc/keepalived/\n/etc/conntrackd/\n/etc/muros-ha/\n/etc/hotplug.d/muros-ha/\n");
    }

    #[test]
    fn second_run_changes_nothing() {
        let once = with_our_paths(STOCK);
        assert_eq!(with_our_paths(&once), once);
    }

    #[test]
    fn missing_trailing_newline_is_added_before_our_lines() {
        let out = with_our_paths("/etc/foo");
        assert_eq!(out, "/etc/foo\n/etc/config/muros_ha\n/etc/keepalived/\n/etc/conntrackd/\n/etc/muros-ha/\n/etc/hotplug.d/muros-ha/\n");
    }

    #[test]
    fn empty_file_gets_only_our_lines() {
        assert_eq!(with_our_paths(""), KEEP_PATHS.iter().map(|p| format!("{p}\n")).collect::<String>());
    }

    #[test]
    fn a_path_present_without_slash_or_with_blanks_is_not_added_again() {
        let existing = "  /etc/keepalived  \n/etc/conntrackd\n/etc/muros-ha/\n/etc/config/muros_ha\n/etc/hotplug.d/muros-ha\n";
        assert_eq!(with_our_paths(existing), existing);
    }

    #[test]
    fn a_commented_out_path_does_not_count() {
        let out = with_our_paths("#/etc/keepalived/\n");
        assert!(out.lines().any(|l| l == "/etc/keepalived/"), "{out}");
        assert!(out.starts_with("#/etc/keepalived/\n"));
    }

    #[test]
    fn only_the_missing_paths_are_appended() {
        let out = with_our_paths("/etc/keepalived/\n/etc/dropbear/\n");
        assert_eq!(out, "/etc/keepalived/\n/etc/dropbear/\n/etc/config/muros_ha\n/etc/conntrackd/\n/etc/muros-ha/\n/etc/hotplug.d/muros-ha/\n");
    }

    /// Random sysupgrade.conf texts built from pieces that stress the line handling:
    /// our paths with and without slashes, comments, blanks, CR, tabs, no final newline.
    fn random_texts(count: usize) -> Vec<String> {
        const PIECES: &[&str] = &[
            "/etc/keepalived/", "/etc/keepalived", "#/etc/conntrackd/", " /etc/muros-ha ", "/etc/config/muros_ha",
            "/etc/dropbear/", "", "\t", "\r", "# comment", "/", "é/ü", "/etc/conntrackd//",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..count)
            .map(|_| {
                let lines = (next() % 8) as usize;
                let mut s = String::new();
                for i in 0..lines {
                    s.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
                    if i + 1 < lines || next() % 2 == 0 {
                        s.push('\n');
                    }
                }
                s
            })
            .collect()
    }

    #[test]
    fn any_existing_text_is_kept_as_a_prefix_and_a_second_run_is_a_no_op() {
        for text in random_texts(2000) {
            let once = with_our_paths(&text);
            // The admin's text is untouched (at most a newline is added to close its last line).
            assert!(once.starts_with(&text), "{text:?} -> {once:?}");
            assert!(once.len() == text.len() || once.ends_with('\n'), "{text:?} -> {once:?}");
            assert_eq!(with_our_paths(&once), once, "not idempotent for {text:?}");
            // Each path is now effectively listed, and we never add one that was there.
            for p in KEEP_PATHS {
                let listed = |t: &str| t.lines().filter(|l| normalize(l) == normalize(p)).count();
                assert!(listed(&once) >= 1, "{p} missing from {once:?}");
                if listed(&text) > 0 {
                    assert_eq!(listed(&once), listed(&text), "{p} added twice to {text:?}");
                }
            }
        }
    }

    #[test]
    fn the_fw4_snippet_is_kept_through_its_directory() {
        // fw4 includes the snippet at boot, before `render` can run again.
        let snippet = crate::paths::FW4_SNIPPET;
        assert!(KEEP_PATHS.iter().any(|k| k.ends_with('/') && snippet.starts_with(k)), "{snippet} not kept");
        assert!(KEEP_PATHS.iter().all(|k| !k.starts_with("/usr/")), "a package directory is not ours to keep");
    }

    #[test]
    fn keep_d_lists_every_path_after_a_comment() {
        let k = keep_d();
        let paths: Vec<&str> = k.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(paths, KEEP_PATHS);
        assert!(k.ends_with('\n'));
    }
}
