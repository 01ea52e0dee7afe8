//! TOTP (RFC 6238 over RFC 4226: HMAC-SHA1, six digits, 30-second steps), what an
//! authenticator app computes; the otpauth:// URI its QR code carries; recovery codes.

use hmac::Mac as _;

/// Seconds per step.
pub const PERIOD: i64 = 30;
/// Steps either side of now a code is accepted for (clock drift, a code typed at the turn).
pub const DRIFT: i64 = 1;
const DIGITS: u32 = 6;

/// The step `unix_seconds` falls in.
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(PERIOD)
}

/// The code for `step` (RFC 4226 §5.3: dynamic truncation of HMAC-SHA1 over the counter).
pub fn code(secret: &[u8], step: i64) -> String {
    #[allow(clippy::expect_used)] // HMAC takes keys of any length
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(secret).expect("hmac key");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", binary % 10u32.pow(DIGITS))
}

/// The step within [`DRIFT`] of `now_step` whose code `given` is, if any (compared in
/// constant time per candidate).
pub fn matching_step(secret: &[u8], given: &str, now_step: i64) -> Option<i64> {
    let given = given.trim();
    if given.len() != DIGITS as usize || !given.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    (now_step - DRIFT..=now_step + DRIFT)
        .find(|step| constant_time_eq(code(secret, *step).as_bytes(), given.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding (what otpauth URIs carry).
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut buffer = [0u8; 5];
        buffer[..chunk.len()].copy_from_slice(chunk);
        let bits = buffer
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..chars {
            let index = (bits >> (35 - i * 5)) & 0x1f;
            out.push(char::from(BASE32[index as usize]));
        }
    }
    out
}

/// The URI an authenticator app reads (Google Authenticator's key-URI format).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let issuer = percent(issuer);
    format!(
        "otpauth://totp/{issuer}:{}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={PERIOD}",
        percent(account),
        base32(secret)
    )
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// How many recovery codes a confirmation hands out.
pub const RECOVERY_CODES: usize = 10;

/// A recovery code from 8 random bytes: `xxxx-xxxx-xxxx` in base32 (60 bits), easy to
/// type; compared without case, dashes or spaces ([`normalize_recovery_code`]).
pub fn recovery_code(random: [u8; 8]) -> String {
    let text = base32(&random);
    format!("{}-{}-{}", &text[0..4], &text[4..8], &text[8..12]).to_lowercase()
}

pub fn normalize_recovery_code(given: &str) -> String {
    given
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 (the last six of its eight digits).
    #[test]
    fn the_rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, expected) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(code(secret, step_at(time)), expected, "T = {time}");
        }
    }

    #[test]
    fn a_code_matches_its_step_and_its_neighbours_only() {
        let secret = b"12345678901234567890";
        let now = step_at(1_111_111_111);
        let current = code(secret, now);
        assert_eq!(matching_step(secret, &current, now), Some(now));
        assert_eq!(matching_step(secret, &current, now + 1), Some(now));
        assert_eq!(matching_step(secret, &current, now - 1), Some(now));
        assert_eq!(matching_step(secret, &current, now + 2), None);
        assert_eq!(matching_step(secret, " 050471 ", now), Some(now));
        for bad in ["", "05047", "0504711", "05O471", "abcdef"] {
            assert_eq!(matching_step(secret, bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn base32_is_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foo"), "MZXW6");
        assert_eq!(base32(b"foob"), "MZXW6YQ");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn the_uri_carries_the_secret_and_escapes_the_labels() {
        let uri = otpauth_uri("My Platform", "ada@example.com", b"foobar");
        assert_eq!(
            uri,
            "otpauth://totp/My%20Platform:ada@example.com?secret=MZXW6YTBOI&issuer=My%20Platform&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn recovery_codes_read_easily_and_compare_loosely() {
        let code = recovery_code([0xff; 8]);
        assert_eq!(code.len(), 14);
        assert_eq!(
            normalize_recovery_code(&code.to_uppercase().replace('-', " ")),
            normalize_recovery_code(&code)
        );
    }
}
