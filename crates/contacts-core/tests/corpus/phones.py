#!/usr/bin/env python3
"""Generates phones.tsv, the golden phone corpus, from Google's libphonenumber.

The authority is libphonenumber itself, through its Python port `phonenumbers`, pinned in
requirements.txt to the metadata version the engine's parsing library embeds. The Rust
tests (tests/phone_corpus.rs) read the committed file and need no Python:

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install -r requirements.txt
    /tmp/venv/bin/python phones.py

It writes phones.tsv beside itself and src/normalize/phone_plan.rs, the numbering-plan
facts the engine's fast path needs (per calling code: the possible lengths and the
national-prefix-for-parsing rule of its main region), from the same metadata.

Numbers: every region's example number of every type, the non-geographic codes' examples,
and a seeded sweep of other valid numbers (one per region and first national digit, and
one per region and two-digit start beginning with the region's national prefix, where
trunk-prefix bugs live). Each number is rendered as E.164, international, RFC 3966,
`00`-prefixed, dialled with another region's international prefix, with separator noise,
with Unicode digits and separators, with a typed trunk prefix after the country code,
national with its region and national without a region; near misses (one digit more or
less) follow each number. Hand-written rows cover the rest (docs/semantics.md 2.1).

Columns, tab-separated (one row per input; `#` starts a comment line):

    kind    region    input    libphonenumber    engine    reason

- region: the default region the input is read with, `-` for none.
- input: the raw text, with `\\uXXXX` escapes for anything outside printable ASCII
  (and for `\\` itself).
- libphonenumber: `+E164 POSSIBILITY VALIDITY` for what `phonenumbers.parse` returned
  (POSSIBILITY is `is_possible_number_with_reason`'s name, VALIDITY `valid`/`invalid`),
  or `error:NAME` for the parse exception. A `00` input without a region is read as the
  `+` form (the engine's documented rule; libphonenumber itself needs a region there).
- engine: `lib` when the engine follows libphonenumber by the general rule (accept an
  IS_POSSIBLE number as its E.164, or only a valid one in strict mode; refuse the rest);
  otherwise the engine's deliberate deviation: `junk` (ignored, never stored), `refuse`
  (an InvalidInput error) or a `+E164` key, with `reason` naming the rule. The rules are
  restated here (`engine_rule`, `fold`) independently of the Rust code.
"""

import os
import random
import re
import sys

import phonenumbers as pn
from phonenumbers import PhoneNumberFormat as F
from phonenumbers import PhoneNumberType as T

from tsv import escape

PINNED = "9.0.42"
SEED = 20261201

TYPES = [
    T.FIXED_LINE, T.MOBILE, T.TOLL_FREE, T.PREMIUM_RATE, T.SHARED_COST, T.VOIP,
    T.PERSONAL_NUMBER, T.PAGER, T.UAN, T.VOICEMAIL,
]
POSSIBILITY = {
    pn.ValidationResult.IS_POSSIBLE: "IS_POSSIBLE",
    pn.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "IS_POSSIBLE_LOCAL_ONLY",
    pn.ValidationResult.INVALID_COUNTRY_CODE: "INVALID_COUNTRY_CODE",
    pn.ValidationResult.TOO_SHORT: "TOO_SHORT",
    pn.ValidationResult.INVALID_LENGTH: "INVALID_LENGTH",
    pn.ValidationResult.TOO_LONG: "TOO_LONG",
}
PARSE_ERRORS = {
    pn.NumberParseException.INVALID_COUNTRY_CODE: "INVALID_COUNTRY_CODE",
    pn.NumberParseException.NOT_A_NUMBER: "NOT_A_NUMBER",
    pn.NumberParseException.TOO_SHORT_AFTER_IDD: "TOO_SHORT_AFTER_IDD",
    pn.NumberParseException.TOO_SHORT_NSN: "TOO_SHORT_NSN",
    pn.NumberParseException.TOO_LONG: "TOO_LONG",
}

# Unicode forms libphonenumber folds: digits of other scripts, and its own punctuation.
FULLWIDTH = {str(d): chr(0xFF10 + d) for d in range(10)}
ARABIC_INDIC = {str(d): chr(0x0660 + d) for d in range(10)}
PERSIAN = {str(d): chr(0x06F0 + d) for d in range(10)}
DEVANAGARI = {str(d): chr(0x0966 + d) for d in range(10)}
SEPARATORS_ASCII = [" ", "-", ".", "/", " ", "-"]
SEPARATORS_UNICODE = [
    "\u00a0",  # no-break space
    "\u2013",  # en dash
    "\u2014",  # em dash
    "\u2212",  # minus sign
    "\u2010",  # hyphen
    "\u2011",  # non-breaking hyphen
    "\u3000",  # ideographic space
    "\uff0d",  # full-width hyphen-minus
    "\u2015",  # horizontal bar
]


def lib_answer(text, region):
    """libphonenumber's reading of `text` in `region` (None: no default region)."""
    try:
        n = pn.parse(text, region)
    except pn.NumberParseException as e:
        return "error:" + PARSE_ERRORS[e.error_type]
    e164 = pn.format_number(n, F.E164)
    possibility = POSSIBILITY[pn.is_possible_number_with_reason(n)]
    validity = "valid" if pn.is_valid_number(n) else "invalid"
    if n.extension:
        return "%s %s %s ext" % (e164, possibility, validity)
    return "%s %s %s" % (e164, possibility, validity)


rows = []
seen = set()


def row(kind, region, text, engine=None, reason=""):
    key = (region, text)
    if key in seen:
        return
    seen.add(key)
    lib_text = text
    digits = pn.normalize_digits_only(text)
    if region is None and digits.startswith("00") and "+" not in text and "\uff0b" not in text:
        # Without a region the engine reads a leading 00 as the international prefix
        # (docs/semantics.md 2.1); libphonenumber needs a region for that.
        lib_text = "+" + digits[2:]
    lib = lib_answer(lib_text, region)
    if engine is None:
        engine, reason = engine_rule(lib_text, region)
    rows.append((kind, region or "-", escape(text), lib, engine, reason))


def npfp_strips(n):
    """Whether the number's national part starts with a non-empty match of its country's
    national prefix for parsing: libphonenumber may strip it when it reads the E.164
    again."""
    region = pn.region_code_for_country_code(n.country_code)
    m = pn.PhoneMetadata.metadata_for_region_or_calling_code(n.country_code, region)
    if m is None or not m.national_prefix_for_parsing:
        return False
    match = re.match(m.national_prefix_for_parsing, pn.national_significant_number(n))
    return match is not None and match.end() > 0


def number_from(cc, nsn):
    return pn.parse("+%d%s" % (cc, nsn), None)


def fold(n):
    """The engine's equivalence rules (docs/semantics.md 2.1, "Equivalent forms"),
    restated independently of the Rust code: (number, reason) or None."""
    cc, nsn = n.country_code, pn.national_significant_number(n)
    if cc == 52 and len(nsn) == 11 and nsn[0] == "1":
        cand = number_from(52, nsn[1:])
        if pn.is_valid_number(cand):
            return cand, "mx_mobile_1"
    if cc == 54 and len(nsn) == 11 and nsn[0] == "9":
        cand = number_from(54, nsn[1:])
        if pn.number_type(n) == T.MOBILE and pn.number_type(cand) == T.FIXED_LINE:
            return cand, "ar_mobile_9"
    if cc == 55 and len(nsn) == 10 and nsn[2] in "689" and not pn.is_valid_number(n):
        cand = number_from(55, nsn[:2] + "9" + nsn[2:])
        if pn.is_valid_number(cand):
            return cand, "br_ninth_digit"
    if cc == 229 and len(nsn) == 8 and not pn.is_valid_number(n):
        cand = number_from(229, "01" + nsn)
        if pn.is_valid_number(cand):
            return cand, "bj_01"
    return None


def engine_rule(text, region):
    """Where the engine's general rules deviate from libphonenumber's reading of an input
    it parses: (engine, reason), or ("lib", "")."""
    try:
        n = pn.parse(text, region)
    except pn.NumberParseException:
        return "lib", ""
    if n.extension:
        return "refuse", "extension"
    if n.national_number == 0:
        return "junk", "national_part_all_zeros"
    if pn.format_number(n, F.E164) in PLACEHOLDERS:
        return "junk", "withheld_caller_placeholder"
    folded = fold(n)
    if folded is not None:
        n = folded[0]
    if npfp_strips(n) and not pn.is_valid_number(n) and \
            pn.is_possible_number_with_reason(n) == pn.ValidationResult.IS_POSSIBLE:
        return "refuse", "ambiguous_trunk_prefix"
    if folded is not None:
        return pn.format_number(n, F.E164), folded[1]
    return "lib", ""


def idd_for(region):
    """A dialable international prefix of `region`: its preferred one, else its pattern
    if that is plain digits."""
    m = pn.PhoneMetadata.metadata_for_region(region)
    if m.preferred_international_prefix and m.preferred_international_prefix.isdigit():
        return m.preferred_international_prefix
    if m.international_prefix and m.international_prefix.isdigit():
        return m.international_prefix
    return None


# Regions whose international prefix is not 00: where "00" would read a wrong country.
OTHER_IDD = sorted(
    r for r in pn.SUPPORTED_REGIONS if idd_for(r) not in (None, "00")
)


def noisy(digits, rng, seps):
    """`+` and the digits with random separators between some of them."""
    out = ["+"]
    for i, d in enumerate(digits):
        out.append(d)
        if i < len(digits) - 1 and rng.random() < 0.35:
            out.append(rng.choice(seps))
    return "".join(out)


def unicode_variant(n, which, rng):
    intl = pn.format_number(n, F.INTERNATIONAL)
    digits = pn.format_number(n, F.E164)[1:]
    if which == 0:
        s = intl.replace(" ", "\u3000")
        return "\uff0b" + "".join(FULLWIDTH.get(c, c) for c in s[1:])
    if which == 1:
        return "+" + "".join(ARABIC_INDIC.get(c, c) for c in intl[1:])
    if which == 2:
        return "+" + "".join(PERSIAN.get(c, c) for c in intl[1:])
    if which == 3:
        return "+" + "".join(DEVANAGARI.get(c, c) for c in intl[1:])
    if which == 4:
        return noisy(digits, rng, SEPARATORS_UNICODE)
    if which == 5:
        return "\ufeff" + intl + "\u200b"
    if which == 6:
        cc = str(n.country_code)
        return "(+%s) %s" % (cc, intl[len(cc) + 2:])
    return "\u200e" + intl + "\u200f"  # left-to-right and right-to-left marks


def renderings(n, region, rng, full):
    e164 = pn.format_number(n, F.E164)
    intl = pn.format_number(n, F.INTERNATIONAL)
    national = pn.format_number(n, F.NATIONAL)
    digits = e164[1:]
    cc = str(n.country_code)
    row("e164", None, e164)
    row("international", None, intl)
    row("rfc3966", None, pn.format_number(n, F.RFC3966))
    row("idd00", None, "00" + intl[1:])
    row("noise", None, noisy(digits, rng, SEPARATORS_ASCII))
    if region != "001":
        row("national", region, national)
        row("national_noregion", None, national)
        nat_digits = pn.normalize_digits_only(national)
        nsn = pn.national_significant_number(n)
        if nat_digits != nsn:
            # The trunk prefix typed after the country code (`+44 (0)20...`,
            # `+1 1 415...`): libphonenumber drops it only where its rules say so.
            row("trunk_after_cc", None, "+%s %s" % (cc, national))
            row("trunk_after_cc", None, "+%s (%s) %s" % (cc, nat_digits[: len(nat_digits) - len(nsn)], nsn))
    if full:
        dialler = OTHER_IDD[rng.randrange(len(OTHER_IDD))]
        row("idd_region", dialler, "%s %s" % (idd_for(dialler), intl[1:]))
        for which in rng.sample(range(8), 3):
            row("unicode", None, unicode_variant(n, which, rng))
    else:
        row("unicode", None, unicode_variant(n, rng.randrange(8), rng))
    # Near misses: one digit more and one less, as E.164 and nationally.
    more = digits + str(rng.randrange(10))
    less = digits[:-1]
    row("near_more", None, "+" + more)
    row("near_less", None, "+" + less)
    if region != "001":
        nsn = pn.national_significant_number(n)
        row("near_more_national", region, nsn + str(rng.randrange(10)))
        row("near_less_national", region, nsn[:-1])


def valid_sample(region, rng, start, tries=300):
    """A valid number of `region` whose national significant number starts with
    `start`, found by random search over the region's possible lengths."""
    m = pn.PhoneMetadata.metadata_for_region(region)
    lengths = [L for L in m.general_desc.possible_length if L > len(start)]
    if not lengths:
        return None
    for _ in range(tries):
        L = rng.choice(lengths)
        nsn = start + "".join(str(rng.randrange(10)) for _ in range(L - len(start)))
        try:
            n = pn.parse("+%d%s" % (m.country_code, nsn), None)
        except pn.NumberParseException:
            continue
        if pn.is_valid_number(n) and pn.region_code_for_number(n) == region \
                and pn.national_significant_number(n) == nsn:
            return n
    return None


def mask(lengths):
    m = 0
    for L in lengths:
        if L >= 0:
            m |= 1 << L
    return m


def write_plan(path):
    """Per calling code, what libphonenumber's parse of `+CC...` consults: the main
    region's national prefix for parsing (it strips a match at the start of the national
    number) and its possible lengths (is_possible_number_with_reason)."""
    lines = [
        "//! Numbering-plan facts for the phone fast path, one entry per calling code.",
        "//!",
        "//! Generated by `tests/corpus/phones.py` from libphonenumber's metadata %s (the" % PINNED,
        "//! version `rlibphonenumber` embeds); do not edit. `tests/phone_corpus.rs` checks the",
        "//! lengths against the library itself.",
        "",
        "use super::fast_path::Plan;",
        "",
        "/// The libphonenumber metadata version these facts and the corpus come from.",
        'pub(crate) const METADATA_VERSION: &str = "%s";' % PINNED,
        "",
        "/// Sorted by calling code.",
        "#[rustfmt::skip]",
        "pub(crate) static PLANS: &[Plan] = &[",
    ]
    for cc in sorted(pn.COUNTRY_CODE_TO_REGION_CODE):
        region = pn.region_code_for_country_code(cc)
        m = pn.PhoneMetadata.metadata_for_region_or_calling_code(cc, region)
        npfp = m.national_prefix_for_parsing or ""
        lines.append("    Plan { code: %d, possible: 0x%x, local_only: 0x%x, strip: %s }," % (
            cc, mask(m.general_desc.possible_length),
            mask(m.general_desc.possible_length_local_only or ()),
            "r#\"%s\"#" % npfp))
    lines.append("];")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    if pn.__version__ != PINNED:
        sys.exit("phonenumbers %s is installed; the corpus is pinned to %s" % (pn.__version__, PINNED))
    here = os.path.dirname(os.path.abspath(__file__))
    write_plan(os.path.join(here, "..", "..", "src", "normalize", "phone_plan.rs"))
    rng = random.Random(SEED)
    out = open(os.path.join(here, "phones.tsv"), "w")
    sys.stdout = out
    print("# Generated by phones.py from phonenumbers %s (libphonenumber metadata %s); "
          "do not edit." % (pn.__version__, PINNED))
    print("# kind\tregion\tinput\tlibphonenumber\tengine\treason")

    # Example numbers of every region and type, rendered every way.
    for region in sorted(pn.SUPPORTED_REGIONS):
        for t in TYPES:
            n = pn.example_number_for_type(region, t)
            if n is not None:
                renderings(n, region, rng, full=True)
    for code in sorted(pn.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        n = pn.example_number_for_non_geo_entity(code)
        if n is not None:
            renderings(n, "001", rng, full=True)

    # A sweep of other valid numbers.
    for region in sorted(pn.SUPPORTED_REGIONS):
        m = pn.PhoneMetadata.metadata_for_region(region)
        starts = [str(d) for d in range(10)]
        if m.national_prefix:
            starts += [m.national_prefix + str(d) for d in range(10)]
        for start in starts:
            n = valid_sample(region, rng, start)
            if n is not None:
                renderings(n, region, rng, full=False)

    hand_written()
    for r in rows:
        print("\t".join(r))


def hand_written():
    # The findings, and forms messaging and voice platforms deliver.
    for text in [
        "+78121465385", "+7 800 555 35 35", "+375 801 123 4567", "+25006026620",
        "+81006642246549", "+370 800 12 345", "+370 808 12 345", "+1 1 415 555 0192",
        "+44 (0)20 7946 0958", "+44 (0) 7911 123456", "(+44) 20 7946 0958",
        "+1\u00a0415\u2013555\u20140192", "\uff0b\uff11\uff14\uff11\uff15\uff15\uff15\uff15\uff10\uff11\uff19\uff12",
        "\ufeff+14155550192", "+14155550192\u200b", "+1 415 555 0192\u2060",
        "tel:+1-415-555-0192", "TEL:+14155550192", "  +1 415 555 0192  ",
        "+1/415/555/0192", "+1.415.555.0192", "0082-00-07123457", "+44 7700 900123",
        "+\u0664\u0664\u0662\u0660\u0667\u0669\u0664\u0666\u0660\u0669\u0665\u0668",
    ]:
        row("edge", None, text)
    for region, text in [
        ("AU", "0011 44 20 7946 0958"), ("KR", "001 44 20 7946 0958"),
        ("HK", "001 44 20 7946 0958"), ("SG", "001 44 20 7946 0958"),
        ("US", "011 44 20 7946 0958"), ("JP", "010 44 20 7946 0958"),
        ("US", "(415) 555-0192"), ("US", "415.555.0192"), ("GB", "07911 123456"),
        ("GB", "020 7946 0958"), ("RU", "8 (812) 146-53-85"), ("RU", "8 800 555 35 35"),
        ("AR", "011 15 1234 5678"), ("DE", "0044 20 7946 0958"), ("US", "555-0192"),
    ]:
        row("edge_region", region, text)
    for text in ["0044 20 7946 0958", "00 1 415 555 0192"]:
        row("edge", None, text)

    # Withheld and unknown caller ids: placeholder numbers (docs/semantics.md 2.1).
    for text in PLACEHOLDERS:
        row("placeholder", None, text, engine="junk", reason="withheld_caller_placeholder")
        row("placeholder", None, text[1:], engine="junk", reason="withheld_caller_placeholder")
    for region, text in [("US", "(737) 874-2833"), ("US", "+1 737 874 2833")]:
        row("placeholder", region, text, engine="junk", reason="withheld_caller_placeholder")
    for text in ["sip:anonymous@anonymous.invalid", "Anonymous", "RESTRICTED", "unavailable",
                 "Private", "withheld", "blocked", "unknown"]:
        row("placeholder", None, text, engine="junk", reason="withheld_caller_placeholder")
    # A national part of only zeros names nobody.
    for text in ["+10000000000", "+1 (000) 000-0000", "+44 0000 000000", "+7 000 000 00 00",
                 "+33 0 00 00 00 00", "+49 0000 0000000"]:
        row("zeros", None, text, engine="junk", reason="national_part_all_zeros")
    for region, text in [("US", "(000) 000-0000"), ("GB", "00000 000000")]:
        row("zeros", region, text, engine="junk", reason="national_part_all_zeros")

    # Messaging-platform equivalences: another form of one number.
    for text, key in [
        ("+52 1 55 1234 5678", "+525512345678"), ("+5215512345678", "+525512345678"),
        ("+52 1 33 1234 5678", "+523312345678"), ("+52 1 81 8123 4567", "+528181234567"),
        ("+52 1 222 123 4567", "+522221234567"),
    ]:
        row("fold", None, text, engine=key, reason="mx_mobile_1")
    for text, key in FOLDS_BR:
        row("fold", None, text, engine=key, reason="br_ninth_digit")
    for text, key in [
        ("+54 9 11 2345 6789", "+541123456789"), ("+5493512345678", "+543512345678"),
        ("+54 9 2966 41 2345", "+542966412345"), ("+54 11 15 2345 6789", "+541123456789"),
    ]:
        row("fold", None, text, engine=key, reason="ar_mobile_9")
    for region, text, key in [("AR", "011 15 2345 6789", "+541123456789"),
                              ("AR", "0351 15 234 5678", "+543512345678")]:
        row("fold", region, text, engine=key, reason="ar_mobile_9")
    for text, key in [
        ("+229 97 00 00 00", "+2290197000000"), ("+22966123456", "+2290166123456"),
        ("+229 21 30 12 34", "+2290121301234"),
    ]:
        row("fold", None, text, engine=key, reason="bj_01")
    # Equivalence rules leave alone what they cannot prove: a Brazilian landline (2-5)
    # or radio number (7), a valid eight-digit Benin UAN, Argentina's non-geographic
    # numbers.
    for text in ["+55 11 3456 7890", "+55 11 7812 3456", "+229 81 12 34 56",
                 "+54 800 123 4567", "+54 9 675 123 4567"]:
        row("fold_not", None, text)
    # Invisible characters and spaces inside a number, which libphonenumber refuses
    # there, are dropped: copying from right-to-left text or web pages leaves them.
    for text in ["+1 415\ufeff555 0192", "+1 415\u200e555\u200f0192",
                 "+33\u202f6\u202f12\u202f34\u202f56\u202f78", "+44\u2009\u200920 7946 0958"]:
        key = pn.format_number(pn.parse(pn.normalize_digits_only(text).join(["+", ""]), None), F.E164)
        row("invisible", None, text, engine=key, reason="invisible_inside")

    # Deliberate refusals of text libphonenumber reads.
    for text, reason in [
        ("+1 800 FLOWERS", "letters"), ("1-800-FLOWERS", "letters"),
        ("Phone: +1 415 555 0192", "letters"), ("call +1 415 555 0192", "letters"), ("+1 415 555 0192 ext. 123", "extension"),
        ("+1 415 555 0192 x123", "extension"), ("+1 415 555 0192 #123", "extension"),
        ("tel:+1-415-555-0192;ext=123", "extension"),
        ("+1 415 555 0192;phone-context=example.com", "rfc3966_parameter"),
    ]:
        row("refused", None, text, engine="refuse", reason=reason)


# Filled in from the platforms' documentation (docs/semantics.md 2.1, "Junk").
# Twilio's (keypad spellings of ANONYMOUS, RESTRICTED, BLOCKED, UNKNOWN, UNAVAILABLE);
# the RESTRICTED one also arrives with a leading 1, ANONYMOUS with 1 after its + dropped.
PLACEHOLDERS = [
    "+266696687", "+1266696687", "+7378742833", "+17378742833", "+2562533", "+8656696",
    "+86282452253",
]
FOLDS_BR = [
    ("+55 11 8765 4321", "+5511987654321"), ("+55 21 9876 5432", "+5521998765432"),
    ("+551187654321", "+5511987654321"),
]

if __name__ == "__main__":
    main()
