//! Forms of one number that messaging and voice networks deliver differently
//! (docs/semantics.md 2.1, "Equivalent forms"). Each rule folds an input form into the
//! key of the form libphonenumber calls valid, only where the two forms can never be
//! two different subscribers, and each can be switched off.

use rlibphonenumber::{PhoneNumber, PhoneNumberType};

/// Which equivalent forms the engine folds into one key. All on by default.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PhoneEquivalences {
    /// Mexico's mobile `1` after the country code, retired in 2019 and still sent by
    /// WhatsApp and some SMS routes: `+52 1 55 1234 5678` is `+52 55 1234 5678`.
    /// Mexican national numbers have exactly ten digits, so the eleven-digit form can
    /// only be the old spelling.
    pub mexico_mobile_1: bool,
    /// Argentina's mobile `9`, dialled from abroad and sent by WhatsApp, but not by SMS
    /// routes: `+54 9 11 2345 6789` is `+54 11 2345 6789`. The national plan is flat
    /// (ten digits name one line; `9` and `15` only mark a call to a mobile), so the
    /// key is the ten-digit form.
    pub argentina_mobile_9: bool,
    /// Brazil's ninth digit (added to mobiles 2012 to 2016; WhatsApp keeps many older
    /// accounts without it): `+55 11 8765 4321` is `+55 11 98765 4321`. Only where the
    /// eight-digit form starts with 6, 8 or 9, is no longer a valid number, and the
    /// nine-digit form is valid: landlines (2 to 5) and radio numbers (7) stay apart.
    pub brazil_ninth_digit: bool,
    /// Benin's move from eight to ten digits (30 November 2024, `01` before every old
    /// number): `+229 97 00 00 00` is `+229 01 97 00 00 00`, where the eight-digit
    /// form is no longer valid and the ten-digit form is.
    pub benin_01: bool,
}

impl Default for PhoneEquivalences {
    fn default() -> Self {
        PhoneEquivalences {
            mexico_mobile_1: true,
            argentina_mobile_9: true,
            brazil_ninth_digit: true,
            benin_01: true,
        }
    }
}

impl PhoneEquivalences {
    /// No folding at all: every number keeps libphonenumber's E.164.
    pub fn none() -> Self {
        PhoneEquivalences {
            mexico_mobile_1: false,
            argentina_mobile_9: false,
            brazil_ninth_digit: false,
            benin_01: false,
        }
    }

    /// Whether a rule might rewrite `+{code}{national}`: such numbers leave the fast
    /// path, since only the library can tell validity and number types.
    pub(crate) fn may_apply(&self, code: u16, national: &str) -> bool {
        let b = national.as_bytes();
        match code {
            52 => self.mexico_mobile_1 && b.len() == 11 && b[0] == b'1',
            54 => self.argentina_mobile_9 && b.len() == 11 && b[0] == b'9',
            55 => self.brazil_ninth_digit && b.len() == 10 && matches!(b[2], b'6' | b'8' | b'9'),
            229 => self.benin_01 && b.len() == 8,
            _ => false,
        }
    }

    /// The number `n` is another form of, if a rule applies.
    pub(crate) fn fold(&self, n: &PhoneNumber, nsn: &str) -> Option<PhoneNumber> {
        let code = u16::try_from(n.country_code).ok()?;
        if !self.may_apply(code, nsn) {
            return None;
        }
        let candidate = |national: &str| number(n.country_code, national);
        match code {
            52 => candidate(&nsn[1..]).filter(PhoneNumber::is_valid),
            54 => {
                let ten = candidate(&nsn[1..])?;
                (n.get_type() == PhoneNumberType::Mobile
                    && ten.get_type() == PhoneNumberType::FixedLine)
                    .then_some(ten)
            }
            55 => {
                if n.is_valid() {
                    return None;
                }
                candidate(&format!("{}9{}", &nsn[..2], &nsn[2..])).filter(PhoneNumber::is_valid)
            }
            229 => {
                if n.is_valid() {
                    return None;
                }
                candidate(&format!("01{nsn}")).filter(PhoneNumber::is_valid)
            }
            _ => None,
        }
    }
}

/// The number with calling code `code` and national significant number `national`
/// (ASCII digits), built as libphonenumber represents it: leading zeros are flags, not
/// part of the integer.
fn number(code: i32, national: &str) -> Option<PhoneNumber> {
    let value: u64 = national.parse().ok()?;
    let zeros = national.bytes().take_while(|&b| b == b'0').count();
    let mut n = PhoneNumber {
        country_code: code,
        national_number: value,
        ..PhoneNumber::default()
    };
    if zeros > 0 && value != 0 {
        n.italian_leading_zero = Some(true);
        if zeros > 1 {
            n.number_of_leading_zeros = Some(i32::try_from(zeros).ok()?);
        }
    }
    Some(n)
}
