//! A release's approval on a laptop: who is at the keyboard (`local:<git user.email>`), whether
//! they may approve (one of `approvers`, and not an author of the released change), and their
//! answer: `--approve` in advance, else a question on the terminal that waits at most the
//! environment's approval timeout.

use crate::gate_file::Approval;
use crate::local::cleanup::Cancel;
use crate::release::{ApprovalDecision, ApprovalRecord};
use std::io::{BufRead, Write};
use std::sync::mpsc;
use std::time::Duration;

/// How often a waiting question looks at Ctrl-C.
const POLL: Duration = Duration::from_millis(200);

/// What the person asked answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Yes.
    Yes,
    /// No (or anything but yes).
    No,
    /// Nothing before the timeout.
    TimedOut,
    /// Nobody can be asked (no terminal).
    Unavailable,
}

/// Who is asked to approve a release.
pub trait Asker {
    /// Asks `question`, waiting at most `timeout`, or until `cancel` is set.
    fn ask(&self, question: &str, timeout: Duration, cancel: &Cancel) -> Answer;
}

/// Asks on the terminal: the question on standard error, the answer a line of standard input.
/// Without a terminal on standard input nobody is asked.
#[derive(Debug, Clone, Copy, Default)]
pub struct Terminal;

impl Asker for Terminal {
    fn ask(&self, question: &str, timeout: Duration, cancel: &Cancel) -> Answer {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return Answer::Unavailable;
        }
        let _ = write!(std::io::stderr(), "{question} [y/N] ");
        let _ = std::io::stderr().flush();
        let (tx, rx) = mpsc::channel();
        // The reader thread may outlive a timeout; it only ever reads one line.
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = std::io::stdin().lock().read_line(&mut line);
            let _ = tx.send(read.map(|_| line));
        });
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() || cancel.is_cancelled() {
                let _ = writeln!(std::io::stderr());
                return Answer::TimedOut;
            }
            match rx.recv_timeout(left.min(POLL)) {
                Ok(Ok(line)) => return parse_answer(&line),
                Ok(Err(_)) | Err(mpsc::RecvTimeoutError::Disconnected) => return Answer::No,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
    }
}

/// `y` or `yes` (any case) is yes; anything else is no.
pub fn parse_answer(line: &str) -> Answer {
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Answer::Yes,
        _ => Answer::No,
    }
}

/// The facts an approval is decided on.
#[derive(Debug, Clone)]
pub struct ApprovalFacts<'a> {
    /// The environment's approval rule.
    pub rule: &'a Approval,
    /// Who would approve.
    pub identity: &'a str,
    /// The identities of the authors of the released change.
    pub authors: &'a [String],
    /// `--approve`: approved in advance.
    pub approved_in_advance: bool,
    /// The question to ask when not approved in advance.
    pub question: &'a str,
    /// How long to wait for an answer.
    pub timeout: Duration,
}

/// Decides the approval: refused without asking when the identity may not approve, else
/// approved in advance or asked. `now` stamps the record.
pub fn decide(
    facts: &ApprovalFacts<'_>,
    asker: &dyn Asker,
    cancel: &Cancel,
    now: &str,
) -> ApprovalRecord {
    let record = |decision| ApprovalRecord::new(facts.identity, now, decision);
    if let Some(refusal) = ApprovalDecision::refusal(facts.rule, facts.identity, facts.authors) {
        return record(refusal);
    }
    if facts.approved_in_advance {
        return record(ApprovalDecision::Approved);
    }
    match asker.ask(facts.question, facts.timeout, cancel) {
        Answer::Yes => record(ApprovalDecision::Approved),
        Answer::No => record(ApprovalDecision::Refused),
        Answer::TimedOut => record(ApprovalDecision::TimedOut),
        Answer::Unavailable => ApprovalRecord::new("", now, ApprovalDecision::Missing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate_file::Gate;

    struct Says(Answer);
    impl Asker for Says {
        fn ask(&self, _: &str, _: Duration, _: &Cancel) -> Answer {
            self.0
        }
    }

    fn rule() -> Approval {
        let gate = Gate::parse(
            "stages: [t]\nchecks: {u: {stage: t, commands: [x]}}\nenvironments:\n  prod:\n    branch: main\n    approval: {approvers: ['local:*@example.com']}\n",
            "g.yml",
        )
        .expect("valid");
        gate.environments[0].approval.clone().expect("approval")
    }

    fn decision(identity: &str, authors: &[&str], advance: bool, says: Answer) -> ApprovalDecision {
        let rule = rule();
        let authors: Vec<String> = authors.iter().map(|a| (*a).to_owned()).collect();
        let facts = ApprovalFacts {
            rule: &rule,
            identity,
            authors: &authors,
            approved_in_advance: advance,
            question: "?",
            timeout: Duration::from_secs(1),
        };
        decide(&facts, &Says(says), &Cancel::new(), "t").decision
    }

    #[test]
    fn only_an_approver_who_did_not_write_the_change_can_approve() {
        let a = "local:ann@example.com";
        let b = "local:bob@example.com";
        assert_eq!(
            decision(a, &[b], true, Answer::No),
            ApprovalDecision::Approved
        );
        assert_eq!(
            decision(a, &[b], false, Answer::Yes),
            ApprovalDecision::Approved
        );
        assert_eq!(
            decision(a, &[b, a], true, Answer::Yes),
            ApprovalDecision::Author
        );
        assert_eq!(
            decision("local:eve@evil.test", &[b], true, Answer::Yes),
            ApprovalDecision::NotAnApprover
        );
        assert_eq!(
            decision(a, &[b], false, Answer::No),
            ApprovalDecision::Refused
        );
        assert_eq!(
            decision(a, &[b], false, Answer::TimedOut),
            ApprovalDecision::TimedOut
        );
        assert_eq!(
            decision(a, &[b], false, Answer::Unavailable),
            ApprovalDecision::Missing
        );
    }

    #[test]
    fn only_yes_is_yes() {
        assert_eq!(parse_answer("y\n"), Answer::Yes);
        assert_eq!(parse_answer(" YES "), Answer::Yes);
        assert_eq!(parse_answer("\n"), Answer::No);
        assert_eq!(parse_answer("yep"), Answer::No);
    }
}
