"""The corpus files' one shared convention: TSV with escapes outside printable ASCII."""


def escape(s):
    """`\\uXXXX` (or `\\UXXXXXXXX`) for anything outside printable ASCII, `\\\\` for a
    backslash, so tabs, newlines and invisible characters survive and stay readable."""
    out = []
    for c in s:
        if c == "\\":
            out.append("\\\\")
        elif " " <= c <= "~":
            out.append(c)
        else:
            out.append("\\u%04X" % ord(c) if ord(c) <= 0xFFFF else "\\U%08X" % ord(c))
    return "".join(out)
