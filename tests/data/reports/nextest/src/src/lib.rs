//! A tiny crate for the gate's report fixtures.

/// Parses a port number.
pub fn port(text: &str) -> Result<u16, String> {
    text.trim().parse().map_err(|e| format!("bad port `{text}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::port;

    #[test]
    fn parses_a_port() {
        assert_eq!(port("8080"), Ok(8080));
    }

    #[test]
    fn trims_spaces() {
        assert_eq!(port(" 22 "), Ok(22));
    }

    #[test]
    fn refuses_a_big_port() {
        assert_eq!(port("70000"), Ok(4464), "ports <wrap> & fail");
    }

    #[test]
    fn panics_on_purpose() {
        panic!("boom: the <config> & the port disagree");
    }

    #[test]
    #[ignore = "needs a network"]
    fn talks_to_a_server() {}
}
