//! Shared by the corpus tests: reading the committed TSV files.

/// Undoes the generators' escaping: `\uXXXX`, `\UXXXXXXXX` and `\\`.
///
/// # Panics
/// On an escape the generators never write.
pub(crate) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let width = match chars.next() {
            Some('\\') => {
                out.push('\\');
                continue;
            }
            Some('u') => 4,
            Some('U') => 8,
            other => panic!("bad escape \\{other:?} in {s:?}"),
        };
        let hex: String = chars.by_ref().take(width).collect();
        let code = u32::from_str_radix(&hex, 16).expect("hex escape");
        out.push(char::from_u32(code).expect("a scalar value"));
    }
    out
}
