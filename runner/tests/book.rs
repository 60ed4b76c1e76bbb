//! The course as a reader gets it: both editions generated from the labs and their recordings,
//! built by mdbook, every link inside resolving, and a lab chapter rendered by headless Chromium
//! (its DOM and a screenshot). A lab changed without recording it again fails the build.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use baleia_tests::{text, workspace};

fn lab_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_baleia-lab"))
}

fn mdbook() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cargo_bin = home.join(".cargo/bin/mdbook");
    if cargo_bin.is_file() {
        return cargo_bin;
    }
    let found = Command::new("sh")
        .args(["-c", "command -v mdbook"])
        .output()
        .expect("sh");
    assert!(
        found.status.success(),
        "mdbook is not installed: cargo install mdbook --version '^0.5' --locked (.ci/run does)"
    );
    PathBuf::from(text(&found.stdout).trim())
}

fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed:\n{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// Build both editions into `out`; the path of the built html.
fn build(out: &Path) -> PathBuf {
    let ws = workspace();
    ok(
        lab_bin()
            .arg("--labs")
            .arg(ws.join("labs"))
            .args(["book", "--book"])
            .arg(ws.join("book"))
            .arg("--out")
            .arg(out)
            .output()
            .unwrap(),
        "baleia-lab book",
    );
    for ed in ["pt", "en"] {
        ok(
            Command::new(mdbook())
                .arg("build")
                .arg(out.join(ed))
                .output()
                .unwrap(),
            "mdbook build",
        );
    }
    out.join("html")
}

fn html_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            html_files(&p, into);
        } else if p.extension().is_some_and(|x| x == "html") {
            into.push(p);
        }
    }
}

/// Every `href="…"` and `src="…"` value of an HTML text.
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "src=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            if let Some(end) = rest.find('"') {
                out.push(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
    }
    out
}

/// Broken relative links of the built book: (page, link).
fn broken_links(html_root: &Path) -> Vec<(PathBuf, String)> {
    let mut pages = Vec::new();
    html_files(html_root, &mut pages);
    assert!(pages.len() > 30, "only {} pages built", pages.len());
    let mut broken = Vec::new();
    // 404.html is for a web server, with links from the site's root.
    for page in pages.iter().filter(|p| !p.ends_with("404.html")) {
        let body = std::fs::read_to_string(page).unwrap();
        for l in links(&body) {
            let external = [
                "http:",
                "https:",
                "mailto:",
                "data:",
                "javascript:",
                "#",
                "{{",
            ]
            .iter()
            .any(|p| l.starts_with(p));
            if external || l.is_empty() {
                continue;
            }
            let (file, fragment) = match l.split_once('#') {
                Some((f, frag)) => (f, Some(frag)),
                None => (l.as_str(), None),
            };
            let file = file.split('?').next().unwrap_or(file);
            let target = page.parent().unwrap().join(file);
            let target = if target.is_dir() {
                target.join("index.html")
            } else {
                target
            };
            if !target.exists() {
                broken.push((page.clone(), l.clone()));
                continue;
            }
            if let Some(frag) = fragment.filter(|f| !f.is_empty()) {
                let t = std::fs::read_to_string(&target).unwrap_or_default();
                if !t.contains(&format!("id=\"{frag}\"")) {
                    broken.push((page.clone(), l.clone()));
                }
            }
        }
    }
    broken
}

#[test]
fn the_book_builds_in_both_languages_with_every_link_resolving() {
    let out = tempfile::tempdir().unwrap();
    let html = build(out.path());
    for ed in ["pt", "en"] {
        for lab in std::fs::read_dir(workspace().join("labs"))
            .unwrap()
            .flatten()
        {
            let name = lab.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".yaml") {
                let page = html.join(ed).join("labs").join(format!("{id}.html"));
                assert!(page.is_file(), "no chapter {}", page.display());
            }
        }
        assert!(html.join(ed).join("concepts").is_dir());
    }
    let en = std::fs::read_to_string(html.join("en/labs/09-neotech.html")).unwrap();
    // The recorded run, not a copy of the lab: the command as typed and what it printed.
    assert!(en.contains("docker network create neotech"), "{en}");
    assert!(en.contains("The runner checked:"));
    let pt = std::fs::read_to_string(html.join("pt/labs/09-neotech.html")).unwrap();
    assert!(pt.contains("O runner conferiu:"));
    let broken = broken_links(&html);
    assert!(broken.is_empty(), "broken links: {broken:#?}");
}

#[test]
fn a_lab_chapter_renders_in_headless_chromium() {
    baleia_tests::require("chromium");
    let out = tempfile::tempdir().unwrap();
    let html = build(out.path());
    let page = html.join("en/labs/09-neotech.html");
    let profile = tempfile::tempdir().unwrap();
    let shot = out.path().join("chapter.png");
    let chromium = |extra: &[&str]| {
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--window-size=1280,1600",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .output()
            .unwrap()
    };
    // What the browser built from the page: the chapter, its table of contents, the terminal text.
    let dom = ok(chromium(&["--dump-dom"]), "chromium --dump-dom");
    for want in [
        "The neotech network",
        "docker network create neotech",
        "Concepts",
        "class=\"chapter\"",
    ] {
        assert!(dom.contains(want), "the rendered page lacks {want:?}");
    }
    ok(
        chromium(&[&format!("--screenshot={}", shot.display())]),
        "chromium --screenshot",
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 1600));
    // A blank or unstyled page compresses to a few kB; text, code and the sidebar do not.
    assert!(png.len() > 40_000, "screenshot of {} bytes", png.len());
    let keep = std::env::var_os("BALEIA_BOOK_SCREENSHOT").map(PathBuf::from);
    if let Some(to) = keep {
        std::fs::copy(&shot, to).unwrap();
    }
}

#[test]
fn a_lab_changed_without_recording_it_again_stops_the_book() {
    let ws = workspace();
    let labs = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(ws.join("labs")).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "yaml") {
            std::fs::copy(e.path(), labs.path().join(e.file_name())).unwrap();
        }
    }
    let check = || {
        lab_bin()
            .arg("--labs")
            .arg(labs.path())
            .args(["book", "--check", "--book"])
            .arg(ws.join("book"))
            .output()
            .unwrap()
    };
    let o = check();
    assert!(o.status.success(), "{}", text(&o.stdout));
    let path = labs.path().join("09-neotech.yaml");
    let lab = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        lab.replace(
            "docker network create neotech",
            "docker network create neotech2",
        ),
    )
    .unwrap();
    let o = check();
    assert!(!o.status.success());
    let said = text(&o.stdout);
    assert!(
        said.starts_with("09-neotech: the recording is of another version of"),
        "{said}"
    );
    assert_eq!(said.lines().count(), 1, "{said}");
    let out = tempfile::tempdir().unwrap();
    let o = lab_bin()
        .arg("--labs")
        .arg(labs.path())
        .args(["book", "--book"])
        .arg(ws.join("book"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("scripts/record-book.sh"),
        "{}",
        text(&o.stderr)
    );
}
