//! String formats checked by the apiserver (`format: date-time`, `uuid`, ...). Formats the
//! apiserver does not know are accepted, as upstream ignores them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `s` is a valid value of `format`.
pub(crate) fn string_matches(format: &str, s: &str) -> bool {
    match format {
        "date-time" | "datetime" => s.parse::<jiff::Timestamp>().is_ok(),
        "date" => s.len() == 10 && s.parse::<jiff::civil::Date>().is_ok(),
        "uuid" | "uuid3" | "uuid4" | "uuid5" => uuid::Uuid::try_parse(s).is_ok() && s.len() == 36,
        "ipv4" => s.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<Ipv6Addr>().is_ok(),
        "cidr" => is_cidr(s),
        "byte" => is_base64(s),
        "hostname" => is_hostname(s),
        "email" => is_email(s),
        "mac" => is_mac(s),
        "duration" => is_duration(s),
        "hexcolor" => {
            s.len() == 7 && s.starts_with('#') && s[1..].chars().all(|c| c.is_ascii_hexdigit())
        }
        _ => true,
    }
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => bits <= 32,
        Ok(IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}

fn is_base64(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    s.len().is_multiple_of(4)
        && s.len() - body.len() <= 2
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
}

fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn is_email(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !local.contains(char::is_whitespace) && is_hostname(domain)
        }
        None => false,
    }
}

fn is_mac(s: &str) -> bool {
    let sep = if s.contains('-') { '-' } else { ':' };
    let parts: Vec<&str> = s.split(sep).collect();
    matches!(parts.len(), 6 | 8 | 20)
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Go-style durations as strfmt accepts them: `1h30m`, `300ms`, `2d`, `1.5h`.
fn is_duration(s: &str) -> bool {
    const UNITS: [&str; 9] = ["ns", "us", "µs", "ms", "s", "m", "h", "d", "w"];
    let mut rest = s.trim();
    if let Some(r) = rest.strip_prefix('-') {
        rest = r;
    }
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 || rest[..digits].parse::<f64>().is_err() {
            return false;
        }
        rest = rest[digits..].trim_start();
        let Some(unit) = UNITS
            .iter()
            .filter(|u| rest.starts_with(**u))
            .max_by_key(|u| u.len())
        else {
            return false;
        };
        rest = rest[unit.len()..].trim_start();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::string_matches;

    #[test]
    fn known_formats_reject_malformed_values() {
        for (format, good, bad) in [
            ("date-time", "2024-01-02T03:04:05Z", "2024-01-02"),
            ("date", "2024-01-02", "2024-13-02"),
            ("uuid", "123e4567-e89b-12d3-a456-426614174000", "123e4567"),
            ("ipv4", "10.0.0.1", "10.0.0.256"),
            ("ipv6", "::1", "1.2.3.4"),
            ("cidr", "10.0.0.0/8", "10.0.0.0/33"),
            ("byte", "aGVsbG8=", "not base64!"),
            ("hostname", "api.example.com", "-bad-.com"),
            ("email", "ops@example.com", "ops.example.com"),
            ("mac", "01:23:45:67:89:ab", "01:23:45"),
            ("duration", "1h30m", "soon"),
        ] {
            assert!(
                string_matches(format, good),
                "{format} should accept {good}"
            );
            assert!(!string_matches(format, bad), "{format} should reject {bad}");
        }
    }

    #[test]
    fn unknown_formats_are_ignored() {
        assert!(string_matches("password", "anything"));
        assert!(string_matches("no-such-format", ""));
    }
}
