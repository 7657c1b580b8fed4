//! A tiny crate for the gate's coverage fixtures: its tests leave some lines unrun.

/// Parses a port number.
pub fn port(text: &str) -> Result<u16, String> {
    text.trim()
        .parse()
        .map_err(|e| format!("bad port `{text}`: {e}"))
}

/// Whether a port needs privileges to bind.
pub fn privileged(port: u16) -> bool {
    if port < 1024 {
        return true;
    }
    false
}

/// A port's well-known service, for the few the tests never ask about.
pub fn service(port: u16) -> Option<&'static str> {
    match port {
        22 => Some("ssh"),
        80 => Some("http"),
        443 => Some("https"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{port, privileged};

    #[test]
    fn parses_a_port() {
        assert_eq!(port(" 8080 "), Ok(8080));
    }

    #[test]
    fn low_ports_are_privileged() {
        assert!(privileged(22));
    }
}
