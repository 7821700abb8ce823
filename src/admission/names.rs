//! The syntax checks of `k8s.io/apimachinery/pkg/util/validation` and friends: DNS names, qualified names,
//! label values, port names, IPs and CIDRs, quantities, and label selectors.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn dns1123_label(s: &str) -> Result<(), String> {
    if s.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    if !is_label_body(s, |c| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return Err("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".into());
    }
    Ok(())
}

/// `[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn dns1035_label(s: &str) -> Result<(), String> {
    if s.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    if !is_label_body(s, |c| c.is_ascii_lowercase() || c.is_ascii_digit())
        || !s.starts_with(|c: char| c.is_ascii_lowercase())
    {
        return Err("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".into());
    }
    Ok(())
}

/// Lowercase RFC 1123 subdomain: dot-separated labels, at most 253 characters.
pub fn dns1123_subdomain(s: &str) -> Result<(), String> {
    if s.len() > 253 {
        return Err("must be no more than 253 characters".into());
    }
    if s.is_empty()
        || !s
            .split('.')
            .all(|l| is_label_body(l, |c| c.is_ascii_lowercase() || c.is_ascii_digit()))
    {
        return Err("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into());
    }
    Ok(())
}

/// `alnum([-alnum]*alnum)?` with `alnum` as given.
fn is_label_body(s: &str, alnum: impl Fn(char) -> bool) -> bool {
    !s.is_empty()
        && s.chars().all(|c| alnum(c) || c == '-')
        && s.starts_with(&alnum)
        && s.ends_with(&alnum)
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
fn is_qualified_name_part(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// A qualified name (label and annotation keys, ...): `[prefix/]name`, the prefix a DNS subdomain, the
/// name at most 63 characters of `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
pub fn qualified_name(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                return Err("prefix part must be non-empty".into());
            }
            dns1123_subdomain(prefix).map_err(|e| format!("prefix part {e}"))?;
            *name
        }
        _ => {
            return Err("a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".into())
        }
    };
    if name.is_empty() {
        return Err("name part must be non-empty".into());
    }
    if name.len() > 63 {
        return Err("name part must be no more than 63 characters".into());
    }
    if !is_qualified_name_part(name) {
        return Err("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')".into());
    }
    Ok(())
}

/// A label value: empty, or at most 63 characters of `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
pub fn label_value(s: &str) -> Result<(), String> {
    if s.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    if !s.is_empty() && !is_qualified_name_part(s) {
        return Err("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".into());
    }
    Ok(())
}

/// IANA_SVC_NAME: 1-15 characters of `[-a-z0-9]`, at least one letter, no `-` at either end or twice in a
/// row.
pub fn port_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 15 {
        return Err("must be no more than 15 characters".into());
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into(),
        );
    }
    if !s.chars().any(|c| c.is_ascii_lowercase()) {
        return Err("must contain at least one letter (a-z)".into());
    }
    if s.contains("--") {
        return Err("must not contain consecutive hyphens".into());
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err("must not begin or end with a hyphen".into());
    }
    Ok(())
}

pub fn port_number(p: i64) -> Result<(), String> {
    if (1..=65535).contains(&p) {
        Ok(())
    } else {
        Err("must be between 1 and 65535, inclusive".into())
    }
}

/// A ConfigMap or Secret key: `[-._a-zA-Z0-9]+`, at most 253, not `.`, `..` or starting with `..`.
pub fn config_map_key(s: &str) -> Result<(), String> {
    if s.len() > 253 {
        return Err("must be no more than 253 characters".into());
    }
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".into());
    }
    if s == "." {
        return Err("must not be '.'".into());
    }
    if s == ".." {
        return Err("must not be '..'".into());
    }
    if s.starts_with("..") {
        return Err("must not start with '..'".into());
    }
    Ok(())
}

/// An IPv4 address as Go's `net.ParseIP` reads one (no leading zeros).
fn parse_ipv4(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 3 || !p.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        if p.len() > 1 && p.starts_with('0') {
            return None;
        }
        octets[i] = p.parse().ok()?;
    }
    Some(Ipv4Addr::from(octets))
}

/// An IP address as the API server's (sloppy, legacy) parser reads one: IPv4 octets may have leading
/// zeros (read as decimal), IPv6 as usual (an IPv4-mapped tail allowed).
pub fn parse_ip_sloppy(s: &str) -> Option<IpAddr> {
    if s.contains(':') {
        // Zones are not IPs here.
        if s.contains('%') {
            return None;
        }
        return s.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 3 || !p.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        octets[i] = p.parse().ok()?;
    }
    Some(IpAddr::V4(Ipv4Addr::from(octets)))
}

/// Whether `s` is an IP by the API server's strict rules for new values (no leading zeros in IPv4, no
/// IPv4-mapped IPv6).
pub fn parse_ip_strict(s: &str) -> Option<IpAddr> {
    if s.contains(':') {
        if s.contains('%') || s.contains('.') {
            return None;
        }
        return s.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    parse_ipv4(s).map(IpAddr::V4)
}

/// A CIDR `ip/len` as the sloppy parser reads it; returns the address and the prefix length.
pub fn parse_cidr_sloppy(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, len) = s.split_once('/')?;
    let ip = parse_ip_sloppy(ip)?;
    if len.is_empty() || len.len() > 3 || !len.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let len: u8 = len.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((ip, len))
}

/// A CIDR as Go's `net.ParseCIDR` reads one (strict octets), used by CRD `format: cidr`.
pub fn is_cidr_go(s: &str) -> bool {
    let Some((ip, len)) = s.split_once('/') else {
        return false;
    };
    let ip = if ip.contains(':') {
        if ip.contains('%') {
            return false;
        }
        match ip.parse::<Ipv6Addr>() {
            Ok(a) => IpAddr::V6(a),
            Err(_) => return false,
        }
    } else {
        match parse_ipv4(ip) {
            Some(a) => IpAddr::V4(a),
            None => return false,
        }
    };
    if len.is_empty() || len.len() > 3 || !len.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    if len.len() > 1 && len.starts_with('0') {
        return false;
    }
    match len.parse::<u8>() {
        Ok(l) => l <= if ip.is_ipv4() { 32 } else { 128 },
        Err(_) => false,
    }
}

/// The network of a CIDR as a 128-bit range (IPv4 mapped into the low 32 bits of its own family).
pub fn cidr_range(ip: IpAddr, len: u8) -> (bool, u128, u128) {
    match ip {
        IpAddr::V4(a) => {
            let x = u32::from(a) as u128;
            let host = if len >= 32 {
                0
            } else {
                (1u128 << (32 - len)) - 1
            };
            (true, x & !host, (x & !host) | host)
        }
        IpAddr::V6(a) => {
            let x = u128::from(a);
            let host = if len >= 128 {
                0
            } else {
                (1u128 << (128 - len)) - 1
            };
            (false, x & !host, (x & !host) | host)
        }
    }
}

/// resource.Quantity's syntax: `<signedNumber><suffix>`, suffix a binary SI (Ki..Ei), a decimal SI
/// (n u m "" k M G T P E) or a decimal exponent (e/E followed by a signed integer).
pub fn is_quantity(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let f = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        frac_digits = i - f;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    let suffix = &s[i..];
    match suffix {
        "" | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E" | "Ki" | "Mi" | "Gi" | "Ti"
        | "Pi" | "Ei" => true,
        _ => {
            let sb = suffix.as_bytes();
            if !matches!(sb.first(), Some(b'e' | b'E')) {
                return false;
            }
            let mut j = 1;
            if matches!(sb.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            j < sb.len() && sb[j..].iter().all(u8::is_ascii_digit)
        }
    }
}

/// A quantity's value as f64 (for comparisons such as requests <= limits); `None` when not a quantity.
pub fn quantity_value(s: &str) -> Option<f64> {
    if !is_quantity(s) {
        return None;
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '+' | '-' | '.')))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e => {
            let exp: i32 = e.get(1..)?.parse().ok()?;
            10f64.powi(exp)
        }
    };
    Some(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(dns1123_label("was-1").is_ok());
        assert!(dns1123_label("-a").is_err());
        assert!(dns1123_label("A").is_err());
        assert!(dns1123_subdomain("a.b-c.d").is_ok());
        assert!(dns1123_subdomain("a..b").is_err());
        assert!(dns1035_label("1a").is_err());
        assert!(qualified_name("app.kubernetes.io/name").is_ok());
        assert!(qualified_name("k8s:io.kubernetes.pod.namespace").is_err());
        assert!(qualified_name("a/b/c").is_err());
        assert!(qualified_name("/a").is_err());
        assert!(label_value("").is_ok());
        assert!(label_value("a b").is_err());
        assert!(port_name("http-envoy-prom").is_ok());
        assert!(port_name("http-envoy-prom1").is_err());
        assert!(port_name("8080").is_err());
        assert!(port_name("a--b").is_err());
        assert!(config_map_key("..a").is_err());
    }

    #[test]
    fn addresses() {
        assert!(parse_ip_strict("010.0.0.1").is_none());
        assert!(parse_ip_sloppy("010.0.0.1").is_some());
        assert!(parse_cidr_sloppy("10.0.0.0/8").is_some());
        assert!(parse_cidr_sloppy("10.0.0.0/33").is_none());
        assert!(is_cidr_go("::/0"));
        assert!(!is_cidr_go("10.0.0.0"));
    }

    #[test]
    fn quantities() {
        for q in ["1", "1.5", "100m", "1Gi", "1e3", ".5", "-1", "+2k", "5."] {
            assert!(is_quantity(q), "{q}");
        }
        for q in ["", "Gi", "1GB", "1e", "abc", "1 Gi", "1.2.3"] {
            assert!(!is_quantity(q), "{q}");
        }
        assert_eq!(quantity_value("1Ki"), Some(1024.0));
        assert_eq!(quantity_value("500m"), Some(0.5));
    }
}
