//! Writing Markdown safely: prose with the characters CommonMark or HTML would take for markup
//! escaped, and code blocks fenced so that nothing inside can close them.

/// `s` as Markdown prose: `<`, `>` and `&` as entities (no raw HTML), and `*`, `_`, `` ` ``,
/// `[`, `]` and `\` escaped so a shell command in a sentence reads as typed.
pub fn prose(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '*' | '_' | '`' | '[' | ']' | '\\' | '|' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A fenced code block of `text` in `lang`, with a fence longer than any run of backticks inside.
pub fn code_block(lang: &str, text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let body = text.trim_end_matches('\n');
    format!("{fence}{lang}\n{body}\n{fence}\n")
}

/// `s` as inline code, with enough backticks around it.
pub fn inline_code(s: &str) -> String {
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let ticks = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{s}{pad}{ticks}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_is_not_markup() {
        assert_eq!(
            prose("docker ps -a | grep <none> && rm *_x"),
            "docker ps -a \\| grep &lt;none&gt; &amp;&amp; rm \\*\\_x"
        );
    }

    #[test]
    fn code_cannot_close_its_fence() {
        assert_eq!(code_block("console", "ls\n"), "```console\nls\n```\n");
        assert_eq!(
            code_block("text", "a ```` b"),
            "`````text\na ```` b\n`````\n"
        );
        assert_eq!(inline_code("echo `id`"), "`` echo `id` ``");
        assert_eq!(inline_code("ls"), "`ls`");
    }
}
