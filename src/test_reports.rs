//! The reports a check writes — JUnit XML test results and Cobertura, LCOV, JaCoCo or Clover
//! line coverage — read into our own types ([`TestSummary`], [`LineCoverage`]).
//!
//! Pure: bytes in, summaries out (no tokio, no AWS); [`read_report`] is the one helper that
//! touches a file. Everything is bounded, because a check's reports are written by the code
//! under test: a file over [`MAX_REPORT_BYTES`] is refused before it is read, at most
//! [`MAX_FAILED_TESTS`] failed tests are kept (the rest are counted), a message keeps its first
//! [`MAX_MESSAGE_LINES`] lines and at most [`MAX_MESSAGE_CHARS`] characters, and elements may
//! nest at most [`MAX_XML_DEPTH`] deep. XML is read with quick-xml as a stream of events: a
//! DTD is skipped, never fetched nor read, and an entity reference other than the five XML
//! predefines and character references is kept as written (`&lol9;`), never expanded, so a
//! billion-laughs document stays the size it is (docs/design.md).

use crate::gate_file::CoverageFormat;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesRef, BytesStart, Event};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;

mod bases;
mod check;
pub mod codebuild;
mod coverage;
mod junit;
mod record;

pub use bases::{CoverageBases, MAX_COVERAGE_BASES, RecordedCoverage, branch_name, run_coverages};
pub use check::{
    CheckReports, CoverageResult, MAX_UNREADABLE, Shortfall, Unreadable, fill_coverage_bases,
    judge_with_reports, percent_text,
};
pub use coverage::parse_coverage;
pub use junit::parse_junit;
pub use record::{MAX_RECORD_DETAIL_BYTES, bound_details};

/// The largest report read (bytes): real ones are kilobytes to a few megabytes.
pub const MAX_REPORT_BYTES: u64 = 20 * 1024 * 1024;
/// How many failed tests a [`TestSummary`] keeps by name; the others are only counted.
pub const MAX_FAILED_TESTS: usize = 50;
/// How many lines of a failure message are kept.
pub const MAX_MESSAGE_LINES: usize = 5;
/// How many characters of a failure message (after [`MAX_MESSAGE_LINES`]) are kept.
pub const MAX_MESSAGE_CHARS: usize = 500;
/// How many characters of a test's name are kept.
pub const MAX_NAME_CHARS: usize = 200;
/// How deep XML elements may nest (JUnit's nested suites are a handful deep).
pub const MAX_XML_DEPTH: usize = 64;

/// How many tests ended which way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCounts {
    /// Passed (a test case with no failure, error or skipped element).
    pub passed: u64,
    /// Failed an assertion (`<failure>`).
    pub failed: u64,
    /// Ended in an unexpected error (`<error>`).
    pub errored: u64,
    /// Skipped (`<skipped>`).
    pub skipped: u64,
}

impl TestCounts {
    /// All the tests counted.
    pub fn total(&self) -> u64 {
        self.passed + self.failed + self.errored + self.skipped
    }
}

/// How a test that did not pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// An assertion failed.
    Failed,
    /// An unexpected error.
    Errored,
}

/// A test that failed or errored, by name, with the first lines of its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedTest {
    /// `classname.name` (just `name` when the class name adds nothing), at most
    /// [`MAX_NAME_CHARS`] characters.
    pub name: String,
    /// Failed or errored.
    pub failure: Failure,
    /// The first lines of its message, bounded; empty when the report gives none.
    pub message: String,
}

/// What one or more JUnit reports say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestSummary {
    /// The counts.
    pub counts: TestCounts,
    /// The first [`MAX_FAILED_TESTS`] failed or errored tests, in report order.
    pub failed: Vec<FailedTest>,
    /// How many more failed or errored tests there were.
    pub failed_left_out: u64,
}

impl TestSummary {
    /// Adds another report's results (a check may declare several JUnit files), keeping the
    /// bound on failed tests.
    pub fn merge(&mut self, other: TestSummary) {
        self.counts.passed += other.counts.passed;
        self.counts.failed += other.counts.failed;
        self.counts.errored += other.counts.errored;
        self.counts.skipped += other.counts.skipped;
        self.failed_left_out += other.failed_left_out;
        for test in other.failed {
            self.push_failed(test);
        }
    }

    /// Keeps `test` by name while there is room, else counts it.
    fn push_failed(&mut self, test: FailedTest) {
        if self.failed.len() < MAX_FAILED_TESTS {
            self.failed.push(test);
        } else {
            self.failed_left_out += 1;
        }
    }
}

/// Line coverage: how many of the measured lines ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCoverage {
    /// Lines that ran at least once.
    pub covered: u64,
    /// Lines measured.
    pub valid: u64,
}

impl LineCoverage {
    /// Covered lines as a percentage of the measured ones; `None` when nothing was measured.
    pub fn percent(&self) -> Option<f64> {
        // u64 → f64 loses precision only past 2^53 lines.
        (self.valid > 0).then(|| self.covered as f64 * 100.0 / self.valid as f64)
    }
}

/// Why a report could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// Over [`MAX_REPORT_BYTES`].
    #[error("the report is {size} bytes; at most {limit} bytes are read")]
    TooLarge {
        /// Its size (at least; reading stops past the limit).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The file could not be opened or read.
    #[error("cannot read the report: {0}")]
    Io(String),
    /// Not well-formed XML (or not UTF-8).
    #[error("not well-formed XML (near byte {position}): {message}")]
    Xml {
        /// Byte offset where the parser stopped.
        position: u64,
        /// What the parser said.
        message: String,
    },
    /// Well-formed, but not the format declared.
    #[error("not a {format} report: {why}")]
    Format {
        /// The format expected.
        format: &'static str,
        /// What is missing or wrong.
        why: String,
    },
}

/// Reads a report file, refusing one over [`MAX_REPORT_BYTES`] before reading it (and
/// stopping past the limit should it grow meanwhile).
pub fn read_report(path: &Path) -> Result<Vec<u8>, ReportError> {
    let file = std::fs::File::open(path).map_err(|e| ReportError::Io(e.to_string()))?;
    let size = file
        .metadata()
        .map_err(|e| ReportError::Io(e.to_string()))?
        .len();
    check_size(size)?;
    let mut bytes = Vec::new();
    file.take(MAX_REPORT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ReportError::Io(e.to_string()))?;
    check_size(bytes.len() as u64)?;
    Ok(bytes)
}

/// Refuses a report over [`MAX_REPORT_BYTES`].
fn check_size(size: u64) -> Result<(), ReportError> {
    if size > MAX_REPORT_BYTES {
        return Err(ReportError::TooLarge {
            size,
            limit: MAX_REPORT_BYTES,
        });
    }
    Ok(())
}

/// What [`walk_xml`] hands its visitor.
enum Node<'a> {
    /// An element opens; `path` holds the names of the elements around it (outermost first).
    Open {
        path: &'a [String],
        element: &'a BytesStart<'a>,
    },
    /// Text (entity references already resolved or kept as written).
    Text(&'a str),
    /// The element `name` closes (also sent right after the `Open` of an empty element).
    Close { name: &'a str },
}

/// Streams an XML document's elements and text to `visit`, refusing documents over the size
/// limit, ill-formed or nesting deeper than [`MAX_XML_DEPTH`]. DTDs, comments and processing
/// instructions are skipped.
fn walk_xml(
    bytes: &[u8],
    mut visit: impl FnMut(Node<'_>) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    check_size(bytes.len() as u64)?;
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut path: Vec<String> = Vec::new();
    loop {
        let event = reader.read_event().map_err(|e| ReportError::Xml {
            position: reader.error_position(),
            message: e.to_string(),
        })?;
        let at = reader.buffer_position();
        match event {
            Event::Start(_) | Event::Empty(_) if path.len() >= MAX_XML_DEPTH => {
                return Err(xml_error(
                    at,
                    format!("elements nest deeper than {MAX_XML_DEPTH}"),
                ));
            }
            Event::Start(e) => {
                visit(Node::Open {
                    path: &path,
                    element: &e,
                })?;
                path.push(local_name(&e));
            }
            Event::Empty(e) => {
                visit(Node::Open {
                    path: &path,
                    element: &e,
                })?;
                visit(Node::Close {
                    name: &local_name(&e),
                })?;
            }
            Event::End(_) => {
                let name = path.pop().unwrap_or_default();
                visit(Node::Close { name: &name })?;
            }
            Event::Text(t) => visit(Node::Text(&t.xml10_content()))?,
            Event::CData(t) => visit(Node::Text(&t.xml10_content()))?,
            Event::GeneralRef(r) => visit(Node::Text(&resolve_reference(&r)))?,
            Event::Eof if !path.is_empty() => {
                return Err(xml_error(
                    at,
                    format!("the document ends inside <{}>", path.join("><")),
                ));
            }
            Event::Eof => return Ok(()),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
}

fn xml_error(position: u64, message: String) -> ReportError {
    ReportError::Xml { position, message }
}

/// An element's name without its namespace prefix.
fn local_name(e: &BytesStart<'_>) -> String {
    e.local_name().as_ref().to_owned()
}

/// `&#NN;` and the five predefined entities, resolved; any other entity kept as written
/// (never expanded: no DTD is read).
fn resolve_reference(r: &BytesRef<'_>) -> String {
    if let Ok(Some(ch)) = r.resolve_char_ref() {
        return ch.to_string();
    }
    let name: &str = r;
    quick_xml::escape::resolve_predefined_entity(name)
        .map_or_else(|| format!("&{name};"), str::to_owned)
}

/// The value of attribute `key` (local name), with predefined entities resolved; a value
/// naming another entity is returned as written (never expanded).
fn attribute(element: &BytesStart<'_>, key: &str) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == key)
        .map(|a| match a.normalized_value(XmlVersion::Implicit1_0) {
            Ok(value) => value.into_owned(),
            Err(_) => a.value.clone().into_owned(),
        })
}

/// Attribute `key` as a count; absent is `None`, not a whole number is an error.
fn count_attribute(
    element: &BytesStart<'_>,
    key: &str,
    format: &'static str,
) -> Result<Option<u64>, ReportError> {
    match attribute(element, key) {
        None => Ok(None),
        Some(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ReportError::Format {
                format,
                why: format!(
                    "<{}> has {key}=\"{}\", not a whole number",
                    local_name(element),
                    bounded(&text, 40)
                ),
            }),
    }
}

/// At most `max` characters of `text`, with `…` when cut.
fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The first [`MAX_MESSAGE_LINES`] non-blank lines of a message, trimmed, at most
/// [`MAX_MESSAGE_CHARS`] characters.
fn first_lines(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .take(MAX_MESSAGE_LINES)
        .collect();
    bounded(&lines.join("\n"), MAX_MESSAGE_CHARS)
}

/// What a coverage format is called in messages.
fn format_name(format: CoverageFormat) -> &'static str {
    match format {
        CoverageFormat::Cobertura => "Cobertura",
        CoverageFormat::Lcov => "LCOV",
        CoverageFormat::Jacoco => "JaCoCo",
        CoverageFormat::Clover => "Clover",
    }
}
