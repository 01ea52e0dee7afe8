//! The chunked transfer coding (RFC 9112 §7.1), decoded as the bytes arrive. Strict: a size
//! is hex digits only (no sign, no leading whitespace, at most 15 digits), an extension may
//! follow after `;`, every line ends in CRLF, and the trailer section loses the fields that
//! must not be trailers.

use bytes::{Buf as _, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body::Frame;

use crate::Invalid;
use crate::fields::allowed_in_trailers;

/// The longest chunk-size line (with its extensions) accepted.
const MAX_SIZE_LINE: usize = 1024;
/// The largest trailer section accepted.
const MAX_TRAILERS: usize = 64 * 1024;
/// Trailer fields accepted.
const MAX_TRAILER_FIELDS: usize = 100;

/// Where the decoder is in the coding.
#[derive(Debug)]
pub enum Chunked {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    /// The trailers were handed on; nothing follows.
    Finished,
}

/// What one step of decoding gave.
#[derive(Debug)]
pub enum Step {
    Frame(Frame<Bytes>),
    /// More bytes are needed.
    More,
    End,
}

impl Chunked {
    /// Decodes from the start of `buf`, taking out what it used.
    pub fn step(&mut self, buf: &mut BytesMut) -> Result<Step, Invalid> {
        loop {
            match self {
                Self::Size => {
                    let Some(eol) = buf.iter().position(|b| *b == b'\n') else {
                        return if buf.len() > MAX_SIZE_LINE {
                            Err(Invalid("chunk size line too long"))
                        } else {
                            Ok(Step::More)
                        };
                    };
                    if eol == 0 || buf[eol - 1] != b'\r' || eol > MAX_SIZE_LINE {
                        return Err(Invalid("invalid chunk size line"));
                    }
                    let size = chunk_size(&buf[..eol - 1])?;
                    buf.advance(eol + 1);
                    *self = if size == 0 {
                        Self::Trailers
                    } else {
                        Self::Data(size)
                    };
                }
                Self::Data(remaining) => {
                    if buf.is_empty() {
                        return Ok(Step::More);
                    }
                    let n = (*remaining).min(buf.len() as u64);
                    let data = buf.split_to(n as usize).freeze();
                    *remaining -= n;
                    if *remaining == 0 {
                        *self = Self::DataEnd;
                    }
                    return Ok(Step::Frame(Frame::data(data)));
                }
                Self::Finished => return Ok(Step::End),
                Self::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(Step::More);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(Invalid("invalid chunk end"));
                    }
                    buf.advance(2);
                    *self = Self::Size;
                }
                Self::Trailers => {
                    let Some((len, trailers)) = trailers(buf)? else {
                        return Ok(Step::More);
                    };
                    buf.advance(len);
                    *self = Self::Finished;
                    return Ok(if trailers.is_empty() {
                        Step::End
                    } else {
                        Step::Frame(Frame::trailers(trailers))
                    });
                }
            }
        }
    }
}

/// The size of a chunk-size line (without its CRLF): `1*HEXDIG [ BWS ";" chunk-ext ]`.
fn chunk_size(line: &[u8]) -> Result<u64, Invalid> {
    let invalid = || Invalid("invalid chunk size");
    let digits_end = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let (digits, rest) = line.split_at(digits_end);
    if digits.is_empty() || digits.len() > 15 {
        return Err(invalid());
    }
    // Then nothing, or extensions after optional whitespace: `;` and visible text.
    let bws = rest
        .iter()
        .take_while(|b| **b == b' ' || **b == b'\t')
        .count();
    let extensions = &rest[bws..];
    let valid = if extensions.is_empty() {
        bws == 0
    } else {
        extensions[0] == b';'
            && extensions
                .iter()
                .all(|b| *b == b'\t' || (b' '..=b'~').contains(b))
    };
    if !valid {
        return Err(invalid());
    }
    let mut size = 0u64;
    for d in digits {
        let v = (*d as char).to_digit(16).ok_or_else(invalid)?;
        size = size * 16 + u64::from(v);
    }
    Ok(size)
}

/// The trailer section at the start of `buf` (its length, and the fields passed on);
/// `None` while it is incomplete.
fn trailers(buf: &[u8]) -> Result<Option<(usize, HeaderMap)>, Invalid> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_TRAILER_FIELDS];
    match httparse::parse_headers(buf, &mut fields) {
        Ok(httparse::Status::Complete((len, fields))) => {
            if buf[..len]
                .windows(2)
                .any(|w| w[1] == b'\n' && w[0] != b'\r')
                || buf[0] == b'\n'
            {
                return Err(Invalid("bare LF in trailers"));
            }
            let mut map = HeaderMap::new();
            for field in fields.iter() {
                let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(field.name.as_bytes()),
                    HeaderValue::from_bytes(field.value),
                ) else {
                    return Err(Invalid("invalid trailer field"));
                };
                if allowed_in_trailers(&name) {
                    map.append(name, value);
                }
            }
            Ok(Some((len, map)))
        }
        Ok(httparse::Status::Partial) if buf.len() < MAX_TRAILERS => Ok(None),
        _ => Err(Invalid("invalid trailers")),
    }
}

/// Decodes all of `input` as a chunked body: the data, the trailers and what follows the
/// body; `None` when the input ends first. (For tests and the fuzz targets.)
pub fn decode_all(input: &[u8]) -> Result<Option<(Vec<u8>, HeaderMap, usize)>, Invalid> {
    let mut buf = BytesMut::from(input);
    let mut chunked = Chunked::Size;
    let (mut data, mut trailers) = (Vec::new(), HeaderMap::new());
    loop {
        match chunked.step(&mut buf)? {
            Step::Frame(frame) => match frame.into_data() {
                Ok(bytes) => data.extend_from_slice(&bytes),
                Err(frame) => trailers = frame.into_trailers().unwrap_or_default(),
            },
            Step::More => return Ok(None),
            Step::End => return Ok(Some((data, trailers, buf.len()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(input: &str) -> Result<Option<(Vec<u8>, HeaderMap, usize)>, Invalid> {
        decode_all(input.as_bytes())
    }

    #[test]
    fn chunks_extensions_and_trailers_are_decoded() {
        let (data, trailers, rest) = decoded(
            "5\r\nhello\r\n6;name=value\r\n world\r\nA ;x\r\n0123456789\r\n0\r\nx-sum: 1\r\n\r\nNEXT",
        )
        .expect("valid")
        .expect("complete");
        assert_eq!(data, b"hello world0123456789");
        assert_eq!(trailers.get("x-sum").map(|v| v.as_bytes()), Some(&b"1"[..]));
        assert_eq!(rest, 4);
    }

    #[test]
    fn every_split_of_a_body_decodes_the_same() {
        let whole = b"3\r\nabc\r\n2;x\r\nde\r\n0\r\ngrpc-status: 0\r\n\r\n";
        for at in 0..whole.len() {
            let mut buf = BytesMut::from(&whole[..at]);
            let mut chunked = Chunked::Size;
            let mut data = Vec::new();
            let mut ended = false;
            for piece in [&[][..], &whole[at..]] {
                buf.extend_from_slice(piece);
                loop {
                    match chunked.step(&mut buf).expect("valid") {
                        Step::Frame(frame) => {
                            if let Ok(bytes) = frame.into_data() {
                                data.extend_from_slice(&bytes);
                            }
                        }
                        Step::More => break,
                        Step::End => {
                            ended = true;
                            break;
                        }
                    }
                }
            }
            assert!(ended, "split at {at}");
            assert_eq!(data, b"abcde", "split at {at}");
        }
    }

    #[test]
    fn malformed_sizes_and_line_ends_are_refused() {
        for input in [
            "-5\r\nhello\r\n0\r\n\r\n",
            "+5\r\nhello\r\n0\r\n\r\n",
            " 5\r\nhello\r\n0\r\n\r\n",
            "0x5\r\nhello\r\n0\r\n\r\n",
            "5\nhello\r\n0\r\n\r\n",
            "5\r\nhello\n0\r\n\r\n",
            "5\r\nhelloXX0\r\n\r\n",
            "5 5\r\nhello\r\n0\r\n\r\n",
            "1000000000000000\r\n",
            "\r\n",
            "5 \r\nhello\r\n0\r\n\r\n",
            "5;a\rb\r\nhello\r\n0\r\n\r\n",
            "0\r\nx-sum: 1\n\r\n",
            "0\r\nx sum: 1\r\n\r\n",
        ] {
            assert!(decoded(input).is_err(), "{input:?}");
        }
    }

    #[test]
    fn fields_that_must_not_be_trailers_are_dropped() {
        let (_, trailers, _) = decoded(
            "0\r\ncontent-length: 5\r\nhost: evil\r\nset-cookie: a=b\r\ngrpc-status: 0\r\n\r\n",
        )
        .expect("valid")
        .expect("complete");
        let names: Vec<_> = trailers.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["grpc-status"]);
    }
}
