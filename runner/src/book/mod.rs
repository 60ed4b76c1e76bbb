//! `baleia-lab book`: the mdBook course, generated so it cannot drift from the labs. Each lab
//! becomes a chapter made of its recording (`book/recordings/LAB.json`, written by `baleia-lab
//! record`), which must be a full, passing run of the lab file as it is now (the recording keeps
//! the lab's [digest](crate::lab::digest)); the concept chapters and diagrams are Markdown and SVG
//! written by hand in `book/concepts/{pt,en}/` and `book/images/`. Two editions are generated,
//! Portuguese and English, from the same files: the labs hold both languages side by side, so a
//! second source tree per language is made rather than gettext catalogues that would copy them.

pub mod chapter;
mod markdown;

use std::path::{Path, PathBuf};

use crate::lab::Lab;
use crate::record::Transcript;
use crate::ui::Lang;

/// Why the book could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BookError {
    /// Recordings are missing, partial, or of another version of their lab.
    #[error("the recordings do not match the labs (refresh them with scripts/record-book.sh):\n{}", .0.join("\n"))]
    Stale(Vec<String>),
    /// A file could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// Which.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// A hand-written chapter has no `# Title` first line.
    #[error("{0}: a chapter starts with its `# Title` line")]
    Untitled(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BookError + '_ {
    move |cause| BookError::Io {
        path: path.into(),
        cause,
    }
}

/// The two editions: language, folder name, `language` of book.toml, title.
const EDITIONS: [(Lang, &str, &str, &str); 2] = [
    (Lang::Pt, "pt", "pt-BR", "Baleia: contêineres por dentro"),
    (Lang::En, "en", "en", "Baleia: containers from the inside"),
];

/// What is wrong between `labs` and the recordings in `recordings`, one line per lab.
pub fn problems(labs: &[Lab], recordings: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for lab in labs {
        let path = recordings.join(format!("{}.json", lab.id));
        let t = match Transcript::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                out.push(format!("{}: no recording ({})", lab.id, path.display()));
                continue;
            }
            Err(e) => {
                out.push(format!("{}: {}: {e}", lab.id, path.display()));
                continue;
            }
        };
        if t.lab_digest != crate::lab::digest(lab) {
            out.push(format!(
                "{}: the recording is of another version of {} (recorded {})",
                lab.id,
                lab.path.display(),
                t.recorded
            ));
        } else if t.steps.len() != lab.steps.len() {
            out.push(format!(
                "{}: the recording has {} of the lab's {} steps (a run that failed)",
                lab.id,
                t.steps.len(),
                lab.steps.len()
            ));
        } else if let Some(s) = t.steps.iter().find(|s| s.checks.iter().any(|c| !c.passed)) {
            out.push(format!(
                "{}: step {} failed a check in the recording",
                lab.id,
                s.index + 1
            ));
        }
    }
    out
}

/// Write the two editions' mdBook sources from `book` (recordings, concepts, images) and `labs`
/// into `out/pt` and `out/en` (each `book.toml` + `src/`), and the page choosing between them,
/// `out/html/index.html`; `mdbook build out/pt` then writes `out/html/pt`.
pub fn generate(labs: &[Lab], book: &Path, out: &Path) -> Result<(), BookError> {
    let recordings = book.join("recordings");
    let wrong = problems(labs, &recordings);
    if !wrong.is_empty() {
        return Err(BookError::Stale(wrong));
    }
    for (lang, dir, code, title) in EDITIONS {
        let root = out.join(dir);
        let src = root.join("src");
        if src.exists() {
            std::fs::remove_dir_all(&src).map_err(io(&src))?;
        }
        for sub in ["labs", "concepts", "images", "recordings"] {
            let d = src.join(sub);
            std::fs::create_dir_all(&d).map_err(io(&d))?;
        }
        let mut summary = String::from("# Summary\n\n");
        // The introduction, then the concepts, as written.
        let concepts = book.join("concepts").join(dir);
        let intro = concepts.join("README.md");
        copy(&intro, &src.join("README.md"))?;
        summary.push_str(&format!(
            "[{}](README.md)\n\n# {}\n\n",
            title_of(&intro)?,
            lang.say("Conceitos", "Concepts")
        ));
        for f in sorted_files(&concepts, "md")? {
            let name = file_name(&f);
            if name == "README.md" {
                continue;
            }
            copy(&f, &src.join("concepts").join(&name))?;
            summary.push_str(&format!("- [{}](concepts/{name})\n", title_of(&f)?));
        }
        for f in sorted_files(&book.join("images"), "")? {
            copy(&f, &src.join("images").join(file_name(&f)))?;
        }
        summary.push_str(&format!("\n# {}\n\n", lang.say("Labs", "Labs")));
        for lab in labs {
            let t = Transcript::read(&recordings.join(format!("{}.json", lab.id)))
                .map_err(io(&recordings))?;
            let mut files = chapter::Attachments::default();
            for f in sorted_files(&recordings, "")? {
                let name = file_name(&f);
                let Some(rest) = name.strip_prefix(&format!("{}.", lab.id)) else {
                    continue;
                };
                if rest.ends_with(".pcap") {
                    files.pcaps.push(name.clone());
                } else if rest.ends_with(".cast") {
                    files.casts.push(name.clone());
                } else {
                    continue;
                }
                copy(&f, &src.join("recordings").join(&name))?;
            }
            let md = chapter::chapter(lab, &t, &files, lang);
            let path = src.join("labs").join(format!("{}.md", lab.id));
            std::fs::write(&path, md).map_err(io(&path))?;
            summary.push_str(&format!(
                "- [{}](labs/{}.md)\n",
                markdown::prose(lang.pick(&lab.title)),
                lab.id
            ));
        }
        let path = src.join("SUMMARY.md");
        std::fs::write(&path, summary).map_err(io(&path))?;
        let toml = format!(
            "# Generated by `baleia-lab book`: edit book/ and the labs, not this file.\n\
             [book]\ntitle = \"{title}\"\nauthors = [\"Baleia\"]\nlanguage = \"{code}\"\nsrc = \"src\"\n\n\
             [build]\nbuild-dir = \"../html/{dir}\"\ncreate-missing = false\n\n\
             [output.html]\ndefault-theme = \"light\"\npreferred-dark-theme = \"navy\"\n"
        );
        let path = root.join("book.toml");
        std::fs::write(&path, toml).map_err(io(&path))?;
    }
    let html = out.join("html");
    std::fs::create_dir_all(&html).map_err(io(&html))?;
    let path = html.join("index.html");
    std::fs::write(&path, LANDING).map_err(io(&path))?;
    Ok(())
}

/// The page at the top of the built book: one link per edition.
const LANDING: &str = "<!DOCTYPE html>\n<html lang=\"pt-BR\">\n<head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Baleia</title></head>\n<body style=\"font-family: sans-serif; max-width: 40em; margin: 4em auto;\">\n\
<h1>Baleia</h1>\n<p>Contêineres por dentro: os labs das notas, com o que o kernel fez em cada passo.<br>\
Containers from the inside: the notes' labs, with what the kernel did at each step.</p>\n<ul>\n\
<li><a href=\"pt/index.html\">Português</a></li>\n<li><a href=\"en/index.html\">English</a></li>\n</ul>\n\
</body>\n</html>\n";

fn copy(from: &Path, to: &Path) -> Result<(), BookError> {
    std::fs::copy(from, to).map_err(io(from))?;
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The files of `dir` (ending in `.ext`, or all when `ext` is empty), by name.
fn sorted_files(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, BookError> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| ext.is_empty() || p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    Ok(v)
}

/// The `# Title` a chapter starts with.
fn title_of(path: &Path) -> Result<String, BookError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    text.lines()
        .next()
        .and_then(|l| l.strip_prefix("# "))
        .map(|t| t.trim().to_string())
        .ok_or_else(|| BookError::Untitled(path.into()))
}
