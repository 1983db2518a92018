//! Email addresses (docs/semantics.md 2.1, "Emails"): the syntax `email-validator`
//! accepts (RFC 5322 dot-atoms, RFC 6531 internationalised local parts, IDNA 2008 /
//! UTS 46 domains), folded to one key per mailbox: local part in NFC and lower case,
//! domain in its Unicode form.

use std::borrow::Cow;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use unicode_normalization::char::is_combining_mark;

use super::text::{describe, is_invisible, is_private_use, nfc};
use crate::error::{Error, Result};

const FIELD: &str = "email";
/// The longest address (RFC 5321 4.5.3.1.3, with errata: a path of 256 octets less
/// the angle brackets).
const MAX_BYTES: usize = 254;
/// The longest local part (RFC 5321 4.5.3.1.1).
const MAX_LOCAL_BYTES: usize = 64;
/// The longest domain (RFC 1035 2.3.4) and label (2.3.1), in octets as transmitted.
const MAX_DOMAIN_BYTES: usize = 253;
const MAX_LABEL_BYTES: usize = 63;
/// Raw input beyond this is refused before any Unicode processing (IDNA decoding of
/// long labels is superlinear).
const MAX_RAW_BYTES: usize = 512;

/// Special-use names no globally deliverable address can have (RFC 6761, 6762, 7686),
/// as `email-validator` lists them.
const SPECIAL_USE: [&str; 6] = ["arpa", "invalid", "local", "localhost", "onion", "test"];

/// The rules an email is checked against.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EmailRules {
    /// Accept dotless domains and special-use names (`user@localhost`, `a@b.local`).
    pub(crate) local_domains: bool,
}

/// The key of the address in `trimmed` (already trimmed, not blank, not junk).
pub(crate) fn normalize(trimmed: &str, rules: EmailRules) -> Result<Cow<'_, str>> {
    if is_canonical(trimmed, rules) {
        return Ok(Cow::Borrowed(trimmed));
    }
    normalize_slow(trimmed, rules).map(Cow::Owned)
}

/// Whether `s` is already its own key: plain ASCII in lower case, a dot-atom local part,
/// and a host name of LDH labels with a dot and a top-level domain ending in a letter,
/// within every length limit and on no special-use name. Such an address is what the
/// full rules below return unchanged, so the commonest input costs one scan and no
/// allocation. Anything else (upper case, Unicode, punycode, `--`, wrappers) takes the
/// full rules.
fn is_canonical(s: &str, rules: EmailRules) -> bool {
    if s.len() > MAX_BYTES || !s.is_ascii() {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let dot_atom = |part: &str| {
        !part.is_empty() && !part.starts_with('.') && !part.ends_with('.') && !part.contains("..")
    };
    let local_ok = local.len() <= MAX_LOCAL_BYTES
        && dot_atom(local)
        && local
            .chars()
            .all(|c| c == '.' || (is_atext(c) && !c.is_ascii_uppercase()));
    let domain_ok = domain.len() <= MAX_DOMAIN_BYTES
        && dot_atom(domain)
        && domain.contains('.')
        && !domain.contains("--")
        && domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && domain.split('.').all(|label| {
            label.len() <= MAX_LABEL_BYTES && !label.starts_with('-') && !label.ends_with('-')
        })
        && domain.ends_with(|c: char| c.is_ascii_lowercase())
        && (rules.local_domains
            || !SPECIAL_USE.iter().any(|special| {
                domain
                    .strip_suffix(*special)
                    .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
            }));
    local_ok && domain_ok
}

fn normalize_slow(trimmed: &str, rules: EmailRules) -> Result<String> {
    if trimmed.len() > MAX_RAW_BYTES {
        return Err(invalid(format!("is longer than {MAX_BYTES} bytes")));
    }
    let folded = fold_fullwidth(trimmed);
    let address = unwrap_address(&folded)?;
    if let Some(c) = address
        .chars()
        .find(|&c| c.is_whitespace() || c.is_control() || is_invisible(c) || is_private_use(c))
    {
        return Err(invalid(format!(
            "contains {}; an address has no spaces or invisible characters",
            describe(c)
        )));
    }
    if address.starts_with('"') {
        return Err(invalid(
            "has a quoted local part; quoted local parts are not accepted",
        ));
    }
    let (local, domain) = match address.split_once('@') {
        Some((l, d)) if !d.contains('@') => (l, d),
        Some(_) => return Err(invalid("has more than one '@'")),
        None => return Err(invalid("has no '@'")),
    };
    let local = local_part(local)?;
    let domain = domain_part(domain, rules)?;
    let key = format!("{local}@{domain}");
    if key.len() > MAX_BYTES {
        return Err(invalid(format!("is longer than {MAX_BYTES} bytes")));
    }
    Ok(key)
}

fn invalid(reason: impl Into<Cow<'static, str>>) -> Error {
    Error::invalid(FIELD, reason)
}

/// Full-width forms of ASCII (`ｓａｒａｈ＠ｅｘａｍｐｌｅ．ｃｏｍ`, typed with an East Asian
/// input method) are the ASCII characters they show.
fn fold_fullwidth(s: &str) -> Cow<'_, str> {
    if s.is_ascii() || !s.chars().any(|c| ('\u{FF01}'..='\u{FF5E}').contains(&c)) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match c {
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
                _ => c,
            })
            .collect(),
    )
}

/// The address inside a `mailto:` link or `Display Name <address>`.
fn unwrap_address(s: &str) -> Result<&str> {
    let mut s = s;
    if s.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("mailto:"))
    {
        s = &s[7..];
        if s.contains('?') {
            return Err(invalid(
                "is a mailto: link with parameters; send the address alone",
            ));
        }
    }
    if let Some(inner) = s.strip_suffix('>') {
        let Some(open) = inner.rfind('<') else {
            return Err(invalid("has a '>' without a '<'"));
        };
        let display = inner[..open].trim();
        if display.contains(['<', '>', '@']) {
            return Err(invalid(
                "has a display name that is not plain text; send the address alone",
            ));
        }
        return Ok(&inner[open + 1..]);
    }
    if s.contains(['<', '>']) {
        return Err(invalid(
            "has angle brackets that do not enclose the address",
        ));
    }
    Ok(s)
}

/// RFC 5322's `atext`: the ASCII characters a dot-atom may hold.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// The local part's key: a dot-atom of `atext` and non-ASCII characters (RFC 6531),
/// in NFC and lower case.
fn local_part(local: &str) -> Result<String> {
    if local.is_empty() {
        return Err(invalid("has nothing before the '@'"));
    }
    let local = nfc(local);
    if let Some(c) = local
        .chars()
        .find(|&c| c.is_ascii() && c != '.' && !is_atext(c))
    {
        return Err(invalid(format!("contains {} before the '@'", describe(c))));
    }
    if local.chars().next().is_some_and(is_combining_mark) {
        return Err(invalid("starts with a combining mark"));
    }
    dots(&local, "before the '@'")?;
    // Mailbox names are case-insensitive at every provider that matters, and a key
    // must not split one person in two by case; lower-casing can un-compose, so NFC
    // again.
    let lower = if local.is_ascii() {
        local.to_ascii_lowercase()
    } else {
        local.to_lowercase()
    };
    let lower = match nfc(&lower) {
        Cow::Borrowed(_) => lower,
        Cow::Owned(composed) => composed,
    };
    if lower.len() > MAX_LOCAL_BYTES {
        return Err(invalid(format!(
            "has more than {MAX_LOCAL_BYTES} bytes before the '@'"
        )));
    }
    Ok(lower)
}

fn dots(part: &str, where_: &str) -> Result<()> {
    if part.starts_with('.') {
        return Err(invalid(format!("starts with a dot {where_}")));
    }
    if part.ends_with('.') {
        return Err(invalid(format!("ends with a dot {where_}")));
    }
    if part.contains("..") {
        return Err(invalid(format!("has two dots in a row {where_}")));
    }
    Ok(())
}

/// The domain's key: checked as an IDNA 2008 host name (UTS 46 with the STD3 rules,
/// hyphen checks and DNS lengths), stored in its Unicode form so that `münchen.de` and
/// `xn--mnchen-3ya.de` are one key that people can read.
fn domain_part(domain: &str, rules: EmailRules) -> Result<String> {
    if domain.is_empty() {
        return Err(invalid("has nothing after the '@'"));
    }
    if domain.starts_with('[') {
        return Err(invalid(
            "has an IP address literal after the '@'; only domain names are accepted",
        ));
    }
    if domain.len() > MAX_DOMAIN_BYTES {
        return Err(invalid(format!(
            "has more than {MAX_DOMAIN_BYTES} bytes after the '@'"
        )));
    }
    if domain.chars().next().is_some_and(is_combining_mark) {
        return Err(invalid("starts with a combining mark after the '@'"));
    }
    let lower = domain.to_ascii_lowercase();
    // The label separators UTS 46 maps to '.', so the dot checks see them.
    let dotted: Cow<'_, str> = if lower.contains(['\u{3002}', '\u{FF61}']) {
        Cow::Owned(lower.replace(['\u{3002}', '\u{FF61}'], "."))
    } else {
        Cow::Borrowed(&lower)
    };
    dots(&dotted, "after the '@'")?;
    let ascii = if dotted
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !dotted.contains("xn--")
    {
        // Plain LDH labels need no IDNA processing; the checks below are the same.
        dotted.into_owned()
    } else {
        Uts46::new()
            .to_ascii(
                dotted.as_bytes(),
                AsciiDenyList::STD3,
                Hyphens::Check,
                DnsLength::Ignore,
            )
            .map_err(|_| {
                invalid("has a domain that is not a valid internationalised domain name (IDNA)")
            })?
            .into_owned()
    };
    if let Some(c) = ascii
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
    {
        return Err(invalid(format!(
            "contains {} after the '@'; a domain has letters, digits, hyphens and dots",
            describe(c)
        )));
    }
    dots(&ascii, "after the '@'")?;
    for label in ascii.split('.') {
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid("has a domain label that starts or ends with '-'"));
        }
        if label.len() >= 4 && &label[2..4] == "--" && !label.starts_with("xn--") {
            return Err(invalid(
                "has a domain label with '--' in its third and fourth places",
            ));
        }
        if label.len() > MAX_LABEL_BYTES {
            return Err(invalid(format!(
                "has a domain label longer than {MAX_LABEL_BYTES} bytes"
            )));
        }
    }
    if ascii.len() > MAX_DOMAIN_BYTES {
        return Err(invalid(format!(
            "has more than {MAX_DOMAIN_BYTES} bytes after the '@' (in IDNA form)"
        )));
    }
    if !rules.local_domains {
        if !ascii.contains('.') {
            return Err(invalid(
                "has a domain without a dot; addresses on a bare host name are not \
                 accepted unless configured",
            ));
        }
        if !ascii.ends_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(invalid(
                "has a top-level domain that does not end in a letter",
            ));
        }
        if let Some(special) = SPECIAL_USE.iter().find(|s| {
            ascii
                .strip_suffix(**s)
                .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
        }) {
            return Err(invalid(format!(
                "is on the special-use domain .{special}, which has no public mailboxes"
            )));
        }
    }
    if !ascii.contains("xn--") {
        return Ok(ascii);
    }
    let (unicode, checked) =
        Uts46::new().to_unicode(ascii.as_bytes(), AsciiDenyList::STD3, Hyphens::Check);
    checked.map_err(|_| invalid("has a domain whose punycode (xn--) labels are not valid IDNA"))?;
    // UTS 46 admits symbols (emoji domains resolve in browsers); IDNA 2008, which
    // mail software and `email-validator` follow, admits only letters, digits and
    // combining marks.
    if let Some(c) = unicode
        .chars()
        .find(|&c| !(c.is_ascii() || c.is_alphanumeric() || is_combining_mark(c)))
    {
        return Err(invalid(format!(
            "contains {} after the '@'; internationalised domains have letters and digits",
            describe(c)
        )));
    }
    Ok(unicode.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path returns exactly what the full rules return, wherever it answers.
    #[test]
    fn canonical_addresses_are_their_own_keys() {
        let rules = EmailRules {
            local_domains: false,
        };
        for s in [
            "sarah@example.com",
            "s.a+tag@sub.example.co.uk",
            "a@b.c",
            "x_y@a-b.example",
            "!#$%&'*+-/=?^_`{|}~@example.com",
            "user@123.example",
        ] {
            assert!(is_canonical(s, rules), "{s}");
            assert_eq!(normalize_slow(s, rules).unwrap(), s, "{s}");
        }
        for s in [
            "Sarah@example.com",
            "user@xn--mnchen-3ya.de",
            "user@ab--cd.com",
            "user@localhost",
            "user@foo.test",
            "user@example.123",
            "a..b@example.com",
            "josé@example.com",
            "mailto:a@example.com",
        ] {
            assert!(!is_canonical(s, rules), "{s}");
        }
    }
}
