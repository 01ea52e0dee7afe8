//! Writing HTTP/1.1 heads without `fmt`: field lines, lengths, chunk sizes, the `Date`
//! value. Both the server fast path and the upstream client write with these.

use std::cell::Cell;

/// Writes one header field line, `name: value\r\n`.
pub fn write_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// `content-length: n\r\n`.
pub fn write_length(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(b"content-length: ");
    write_digits(out, n, 10);
    out.extend_from_slice(b"\r\n");
}

/// A chunk's size line: the length in hex.
pub fn write_chunk_size(out: &mut Vec<u8>, n: usize) {
    write_digits(out, n, 16);
    out.extend_from_slice(b"\r\n");
}

/// `n` in base 10 or 16.
pub fn write_digits(out: &mut Vec<u8>, n: usize, base: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 20];
    let (mut n, mut start) = (n, digits.len());
    loop {
        start -= 1;
        digits[start] = DIGITS[n % base];
        n /= base;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// The `Date` value for now, formatted once a second on each thread.
pub fn date() -> [u8; 29] {
    thread_local! {
        static CACHED: Cell<(u64, [u8; 29])> = const { Cell::new((u64::MAX, [0; 29])) };
    }
    let now = std::time::SystemTime::now();
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHED.with(|cached| {
        let (at, text) = cached.get();
        if at == secs {
            return text;
        }
        let mut fresh = [0u8; 29];
        let formatted = httpdate::fmt_http_date(now);
        if formatted.len() == fresh.len() {
            fresh.copy_from_slice(formatted.as_bytes());
        }
        cached.set((secs, fresh));
        fresh
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_in_the_base_asked() {
        for (n, base, text) in [
            (0, 10, "0"),
            (7, 10, "7"),
            (65536, 10, "65536"),
            (usize::MAX, 10, "18446744073709551615"),
            (0, 16, "0"),
            (255, 16, "ff"),
            (0x1234abcd, 16, "1234abcd"),
        ] {
            let mut out = Vec::new();
            write_digits(&mut out, n, base);
            assert_eq!(out, text.as_bytes(), "{n} in base {base}");
        }
    }

    #[test]
    fn the_date_is_an_imf_fixdate() {
        let text = date();
        let text = std::str::from_utf8(&text).expect("ascii");
        assert!(httpdate::parse_http_date(text).is_ok(), "{text}");
    }
}
