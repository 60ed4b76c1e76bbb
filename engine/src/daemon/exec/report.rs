//! What the `__exec` helper tells the daemon over its control socket: one message per event, the
//! terminal's master end riding along as a descriptor.

/// One event of an exec's life, as the helper reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The process runs, with this PID on the host.
    Started(i32),
    /// The terminal's master end is the descriptor sent with this message.
    Terminal,
    /// The process could not be started: Docker's exit code for it (126, 127) and why.
    Failed {
        /// The exit code `docker exec` ends with.
        code: i32,
        /// The runtime's words (`exec: "x": executable file not found in $PATH`).
        message: String,
    },
    /// The process ended with this code (128+signal if a signal killed it).
    Exited(i32),
}

impl Report {
    /// The message's text.
    pub fn encode(&self) -> String {
        match self {
            Report::Started(pid) => format!("started {pid}"),
            Report::Terminal => "terminal".into(),
            Report::Failed { code, message } => format!("failed {code} {message}"),
            Report::Exited(code) => format!("exited {code}"),
        }
    }

    /// Read a message's text; `None` if it is not a report.
    pub fn decode(text: &str) -> Option<Report> {
        let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
        Some(match word {
            "started" => Report::Started(rest.parse().ok()?),
            "terminal" => Report::Terminal,
            "failed" => {
                let (code, message) = rest.split_once(' ').unwrap_or((rest, ""));
                Report::Failed {
                    code: code.parse().ok()?,
                    message: message.to_string(),
                }
            }
            "exited" => Report::Exited(rest.parse().ok()?),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Report;

    #[test]
    fn reports_survive_the_wire() {
        for r in [
            Report::Started(4242),
            Report::Terminal,
            Report::Failed {
                code: 127,
                message: "exec: \"x y\": executable file not found in $PATH".into(),
            },
            Report::Exited(-1),
            Report::Exited(137),
        ] {
            assert_eq!(Report::decode(&r.encode()), Some(r));
        }
        assert_eq!(Report::decode("started x"), None);
        assert_eq!(Report::decode("hello"), None);
    }
}
