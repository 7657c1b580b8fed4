//! JUnit XML: `<testsuites>` / `<testsuite>` (nested to any depth) holding `<testcase>`s, each
//! passed, or with a `<failure>`, `<error>` or `<skipped>` child. The counts come from the test
//! cases themselves, not from the suites' `tests=`/`failures=` attributes, which tools fill in
//! differently (and nested suites would count twice).

use super::{
    FailedTest, Failure, MAX_MESSAGE_CHARS, MAX_NAME_CHARS, Node, ReportError, TestSummary,
    attribute, bounded, first_lines, local_name, walk_xml,
};
use quick_xml::events::BytesStart;

/// How much of a message is gathered before [`first_lines`] cuts it (characters per piece of
/// text, while the message so far is under this many bytes).
const MAX_CAPTURE_BYTES: usize = 4 * MAX_MESSAGE_CHARS;

/// Reads a JUnit XML report: its counts and its failed tests by name, bounded.
pub fn parse_junit(bytes: &[u8]) -> Result<TestSummary, ReportError> {
    let mut junit = Junit::default();
    walk_xml(bytes, |node| junit.visit(node))?;
    if !junit.root_seen {
        return Err(ReportError::Format {
            format: "JUnit",
            why: "the document has no element".to_owned(),
        });
    }
    Ok(junit.summary)
}

/// How a test case ended, as far as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Passed,
    Skipped,
    NotPassed(Failure),
}

/// The test case being read.
struct Case {
    name: String,
    outcome: Outcome,
    /// The deciding `<failure>`'s or `<error>`'s `message` attribute.
    message: String,
    /// That element's text.
    text: String,
    /// The element whose text is being gathered.
    capturing: Option<String>,
}

#[derive(Default)]
struct Junit {
    summary: TestSummary,
    case: Option<Case>,
    root_seen: bool,
}

impl Junit {
    fn visit(&mut self, node: Node<'_>) -> Result<(), ReportError> {
        match node {
            Node::Open { path, element } => self.open(path, element)?,
            Node::Text(text) => {
                if let Some(case) = self.case.as_mut().filter(|c| c.capturing.is_some()) {
                    let room = MAX_CAPTURE_BYTES.saturating_sub(case.text.len());
                    case.text.push_str(&bounded(text, room));
                }
            }
            Node::Close { name } => self.close(name),
        }
        Ok(())
    }

    fn open(&mut self, path: &[String], element: &BytesStart<'_>) -> Result<(), ReportError> {
        let name = local_name(element);
        if path.is_empty() {
            if name != "testsuites" && name != "testsuite" {
                return Err(ReportError::Format {
                    format: "JUnit",
                    why: format!("the root element is <{name}>, not <testsuites> or <testsuite>"),
                });
            }
            self.root_seen = true;
        }
        match (name.as_str(), self.case.as_mut()) {
            ("testcase", _) => {
                self.case = Some(Case {
                    name: case_name(element),
                    outcome: Outcome::Passed,
                    message: String::new(),
                    text: String::new(),
                    capturing: None,
                });
            }
            ("failure", Some(case)) => case.not_passed(Failure::Failed, &name, element),
            ("error", Some(case)) => case.not_passed(Failure::Errored, &name, element),
            ("skipped", Some(case)) if case.outcome == Outcome::Passed => {
                case.outcome = Outcome::Skipped;
            }
            _ => {}
        }
        Ok(())
    }

    fn close(&mut self, name: &str) {
        if name == "testcase" {
            if let Some(case) = self.case.take() {
                self.finish(case);
            }
        } else if let Some(case) = self.case.as_mut()
            && case.capturing.as_deref() == Some(name)
        {
            case.capturing = None;
        }
    }

    /// Counts a finished test case, and keeps it by name when it did not pass.
    fn finish(&mut self, case: Case) {
        let counts = &mut self.summary.counts;
        match case.outcome {
            Outcome::Passed => counts.passed += 1,
            Outcome::Skipped => counts.skipped += 1,
            Outcome::NotPassed(failure) => {
                match failure {
                    Failure::Failed => counts.failed += 1,
                    Failure::Errored => counts.errored += 1,
                }
                self.summary.push_failed(FailedTest {
                    message: first_lines(&case.full_message()),
                    name: case.name,
                    failure,
                });
            }
        }
    }
}

impl Case {
    /// A `<failure>` or `<error>`: the first one decides; its `message` attribute and its
    /// text make the message ([`Case::full_message`]).
    fn not_passed(&mut self, failure: Failure, element_name: &str, element: &BytesStart<'_>) {
        if matches!(self.outcome, Outcome::NotPassed(_)) {
            return;
        }
        self.outcome = Outcome::NotPassed(failure);
        let message = attribute(element, "message").unwrap_or_default();
        self.message = bounded(message.trim(), MAX_CAPTURE_BYTES);
        self.capturing = Some(element_name.to_owned());
    }

    /// The `message` attribute, then the element's text unless that text begins with it (then
    /// the text alone, which says more). Tools split the two differently: pytest puts the
    /// assertion in the attribute and the code in the text, nextest the panic's first line in
    /// the attribute and the whole panic in the text, go-junit-report and gotestsum only
    /// `Failed` in the attribute and the test's output in the text.
    fn full_message(&self) -> String {
        let text = self.text.as_str();
        if self.message.is_empty() || text.trim_start().starts_with(&self.message) {
            text.to_owned()
        } else if text.trim().is_empty() {
            self.message.clone()
        } else {
            format!("{}\n{text}", self.message)
        }
    }
}

/// `classname.name`, or just `name` when the class name is empty or already part of it
/// (jest-junit repeats the name as class name).
fn case_name(element: &BytesStart<'_>) -> String {
    let name = attribute(element, "name").unwrap_or_default();
    let class = attribute(element, "classname").unwrap_or_default();
    let full = if class.is_empty() || name.starts_with(&class) {
        name
    } else if name.is_empty() {
        class
    } else {
        format!("{class}.{name}")
    };
    bounded(&full, MAX_NAME_CHARS)
}
