//! Line coverage from the four formats a check may declare. Each reads the report's own total
//! where the format has one (Cobertura's `lines-valid`/`lines-covered`, JaCoCo's report-level
//! `LINE` counter, Clover's project `metrics`, LCOV's `LF`/`LH`), else counts the lines.

use super::{
    LineCoverage, Node, ReportError, check_size, count_attribute, format_name, local_name, walk_xml,
};
use crate::gate_file::CoverageFormat;
use quick_xml::events::BytesStart;

/// Reads a coverage report of the declared format into its line coverage.
pub fn parse_coverage(format: CoverageFormat, bytes: &[u8]) -> Result<LineCoverage, ReportError> {
    match format {
        CoverageFormat::Lcov => parse_lcov(bytes),
        CoverageFormat::Cobertura => parse_xml(format, "coverage", bytes, cobertura),
        CoverageFormat::Jacoco => parse_xml(format, "report", bytes, jacoco),
        CoverageFormat::Clover => parse_xml(format, "coverage", bytes, clover),
    }
}

/// What an XML format's reader keeps while it walks the document.
#[derive(Default)]
struct Tally {
    /// The report's own total, when it has one.
    total: Option<LineCoverage>,
    /// Lines counted one by one (Cobertura without totals).
    counted: LineCoverage,
    /// Whether any line was counted.
    saw_lines: bool,
}

/// A format's reaction to one opening element (the path of elements around it, the element).
type Visit = fn(&[String], &BytesStart<'_>, &mut Tally) -> Result<(), ReportError>;

/// Walks an XML coverage report whose root must be `root`, letting `visit` tally it.
fn parse_xml(
    format: CoverageFormat,
    root: &str,
    bytes: &[u8],
    visit: Visit,
) -> Result<LineCoverage, ReportError> {
    let name = format_name(format);
    let mut tally = Tally::default();
    walk_xml(bytes, |node| match node {
        Node::Open { path, element } => {
            if path.is_empty() && local_name(element) != root {
                return Err(ReportError::Format {
                    format: name,
                    why: format!(
                        "the root element is <{}>, not <{root}>",
                        local_name(element)
                    ),
                });
            }
            visit(path, element, &mut tally)
        }
        Node::Text(_) | Node::Close { .. } => Ok(()),
    })?;
    match (tally.total, tally.saw_lines) {
        (Some(total), _) => Ok(total),
        (None, true) => Ok(tally.counted),
        (None, false) => Err(ReportError::Format {
            format: name,
            why: "it has no line counts".to_owned(),
        }),
    }
}

/// Cobertura: `<coverage lines-valid= lines-covered=>`, else each `<class><lines><line hits=>`
/// (not the copies under `<methods>`).
fn cobertura(path: &[String], e: &BytesStart<'_>, tally: &mut Tally) -> Result<(), ReportError> {
    const NAME: &str = "Cobertura";
    if path.is_empty() {
        let valid = count_attribute(e, "lines-valid", NAME)?;
        let covered = count_attribute(e, "lines-covered", NAME)?;
        if let (Some(valid), Some(covered)) = (valid, covered) {
            tally.total = Some(checked(covered, valid, NAME)?);
        }
    } else if local_name(e) == "line"
        && matches!(path, [.., class, lines] if class == "class" && lines == "lines")
    {
        let hits = count_attribute(e, "hits", NAME)?.unwrap_or(0);
        tally.saw_lines = true;
        tally.counted.valid += 1;
        tally.counted.covered += u64::from(hits > 0);
    }
    Ok(())
}

/// JaCoCo: the report-level `<counter type="LINE" missed= covered=>`.
fn jacoco(path: &[String], e: &BytesStart<'_>, tally: &mut Tally) -> Result<(), ReportError> {
    const NAME: &str = "JaCoCo";
    let is_line_counter = path.len() == 1
        && local_name(e) == "counter"
        && super::attribute(e, "type").as_deref() == Some("LINE");
    if is_line_counter {
        let missed = count_attribute(e, "missed", NAME)?.unwrap_or(0);
        let covered = count_attribute(e, "covered", NAME)?.unwrap_or(0);
        tally.total = Some(LineCoverage {
            covered,
            valid: covered.saturating_add(missed),
        });
    }
    Ok(())
}

/// Clover: the project's `<metrics statements= coveredstatements=>` (Clover measures
/// statements, the closest it has to lines).
fn clover(path: &[String], e: &BytesStart<'_>, tally: &mut Tally) -> Result<(), ReportError> {
    const NAME: &str = "Clover";
    if path.len() == 2 && path[1] == "project" && local_name(e) == "metrics" {
        let valid = count_attribute(e, "statements", NAME)?.unwrap_or(0);
        let covered = count_attribute(e, "coveredstatements", NAME)?.unwrap_or(0);
        tally.total = Some(checked(covered, valid, NAME)?);
    }
    Ok(())
}

/// A total whose covered part is at most its whole.
fn checked(covered: u64, valid: u64, format: &'static str) -> Result<LineCoverage, ReportError> {
    if covered > valid {
        return Err(ReportError::Format {
            format,
            why: format!("it says {covered} of {valid} lines are covered"),
        });
    }
    Ok(LineCoverage { covered, valid })
}

/// One LCOV record (`SF:` … `end_of_record`) as read so far.
#[derive(Default)]
struct Record {
    found: Option<u64>,
    hit: Option<u64>,
    da_valid: u64,
    da_covered: u64,
}

impl Record {
    /// `LF`/`LH` when the record has them, else its `DA` lines.
    fn lines(&self) -> (u64, u64) {
        match (self.found, self.hit) {
            (Some(found), Some(hit)) => (hit, found),
            _ => (self.da_covered, self.da_valid),
        }
    }
}

/// LCOV (`geninfo` tracefile): the sum of every record's lines.
fn parse_lcov(bytes: &[u8]) -> Result<LineCoverage, ReportError> {
    check_size(bytes.len() as u64)?;
    let text = String::from_utf8_lossy(bytes);
    let mut total = LineCoverage::default();
    let mut records = 0u64;
    let mut record = Record::default();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        match line.split_once(':') {
            Some(("LF", v)) => record.found = Some(lcov_number(v, index)?),
            Some(("LH", v)) => record.hit = Some(lcov_number(v, index)?),
            Some(("DA", v)) => {
                let hits = v.split(',').nth(1).unwrap_or_default();
                record.da_valid += 1;
                record.da_covered += u64::from(lcov_number(hits, index)? > 0);
            }
            _ if line == "end_of_record" => {
                let (covered, valid) = std::mem::take(&mut record).lines();
                total.covered += covered;
                total.valid += valid;
                records += 1;
            }
            _ => {}
        }
    }
    if records == 0 {
        return Err(ReportError::Format {
            format: "LCOV",
            why: "it has no record (`SF:` … `end_of_record`)".to_owned(),
        });
    }
    checked(total.covered, total.valid, "LCOV")
}

/// A count in an LCOV line (`index` from 0); a negative hit count (seen from some gcov
/// versions) counts as 0.
fn lcov_number(text: &str, index: usize) -> Result<u64, ReportError> {
    let text = text.trim();
    if let Ok(n) = text.parse::<u64>() {
        return Ok(n);
    }
    if text.parse::<i64>().is_ok_and(|n| n < 0) {
        return Ok(0);
    }
    Err(ReportError::Format {
        format: "LCOV",
        why: format!(
            "line {}: `{}` is not a count",
            index + 1,
            super::bounded(text, 40)
        ),
    })
}
