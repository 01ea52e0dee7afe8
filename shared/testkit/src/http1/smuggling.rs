//! Request-smuggling cases (CL.TE, TE.CL, duplicate and listed `Content-Length`,
//! `Transfer-Encoding` obfuscations, obs-fold, a space before the colon, NUL and lone CR,
//! bare LF, `Host` errors) as raw bytes, with what the client meant by each, and the rule
//! every server and proxy of the platform must keep: **exactly the requests the client
//! meant reach the service, or the request is refused with 400 and the connection
//! closed.** The same cases are the fuzz corpus of `platform-http1`.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// A request as the service (or the upstream) saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn post(target: &str, body: &[u8]) -> Self {
        Self {
            method: "POST".to_owned(),
            target: target.to_owned(),
            body: body.to_vec(),
        }
    }
}

/// One attack: its bytes, and the requests the client meant (none: it must be refused).
#[derive(Debug, Clone)]
pub struct Case {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub meant: Vec<Seen>,
}

/// The fields every case's request carries besides its own (a Connect call).
const COMMON: &str = "host: x\r\ncontent-type: application/json\r\n";

/// The cases, each a request to `path` (followed, when sent, by [`probe`]).
pub fn cases(path: &str) -> Vec<Case> {
    let post = |fields: &str, rest: &str| {
        format!("POST {path} HTTP/1.1\r\n{COMMON}{fields}\r\n{rest}").into_bytes()
    };
    let meant = |body: &[u8]| vec![Seen::post(path, body)];
    let refused = Vec::new;
    vec![
        Case {
            // A front end reading `Content-Length` would pass `0\r\n\r\nX` as the body; the
            // coding wins (RFC 9112 §6.3), the body is empty, and the connection closes.
            name: "cl_te",
            bytes: post(
                "content-length: 6\r\ntransfer-encoding: chunked\r\n",
                "0\r\n\r\nX",
            ),
            meant: meant(b""),
        },
        Case {
            name: "te_cl",
            bytes: post(
                "transfer-encoding: chunked\r\ncontent-length: 3\r\n",
                "8\r\nSMUGGLED\r\n0\r\n\r\n",
            ),
            meant: meant(b"SMUGGLED"),
        },
        Case {
            name: "content_length_twice_differing",
            bytes: post("content-length: 2\r\ncontent-length: 8\r\n", "{}SMUGGLE"),
            meant: refused(),
        },
        Case {
            name: "content_length_twice_same",
            bytes: post("content-length: 2\r\ncontent-length: 2\r\n", "{}"),
            meant: meant(b"{}"),
        },
        Case {
            name: "content_length_list_same",
            bytes: post("content-length: 2, 2\r\n", "{}"),
            meant: meant(b"{}"),
        },
        Case {
            name: "content_length_list_differing",
            bytes: post("content-length: 2, 8\r\n", "{}SMUGGLE"),
            meant: refused(),
        },
        Case {
            name: "content_length_signed",
            bytes: post("content-length: +2\r\n", "{}"),
            meant: refused(),
        },
        Case {
            name: "te_trailing_space",
            bytes: post("transfer-encoding: chunked \r\n", "2\r\n{}\r\n0\r\n\r\n"),
            meant: meant(b"{}"),
        },
        Case {
            name: "te_xchunked",
            bytes: post(
                "transfer-encoding: xchunked\r\ncontent-length: 2\r\n",
                "{}",
            ),
            meant: refused(),
        },
        Case {
            name: "te_tab_before_value",
            bytes: post("transfer-encoding:\tchunked\r\n", "2\r\n{}\r\n0\r\n\r\n"),
            meant: meant(b"{}"),
        },
        Case {
            name: "te_chunked_then_identity",
            bytes: post(
                "transfer-encoding: chunked, identity\r\n",
                "2\r\n{}\r\n0\r\n\r\n",
            ),
            meant: refused(),
        },
        Case {
            name: "te_in_http10",
            bytes: format!(
                "POST {path} HTTP/1.0\r\n{COMMON}transfer-encoding: chunked\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n"
            )
            .into_bytes(),
            meant: refused(),
        },
        Case {
            // obs-fold: a continuation line that would be `Transfer-Encoding` to a reader
            // that does not fold.
            name: "obs_fold_hiding_te",
            bytes: post(
                "x-padding: a\r\n transfer-encoding: chunked\r\ncontent-length: 2\r\n",
                "{}",
            ),
            meant: meant(b"{}"),
        },
        Case {
            name: "obs_fold_in_te",
            bytes: post(
                "transfer-encoding: identity\r\n chunked\r\ncontent-length: 2\r\n",
                "{}",
            ),
            meant: refused(),
        },
        Case {
            name: "space_before_colon",
            bytes: post(
                "transfer-encoding : chunked\r\ncontent-length: 2\r\n",
                "{}",
            ),
            meant: refused(),
        },
        Case {
            name: "nul_in_value",
            bytes: post("x-a: a\0b\r\ncontent-length: 2\r\n", "{}"),
            meant: refused(),
        },
        Case {
            name: "lone_cr_in_value",
            bytes: post(
                "x-a: a\rtransfer-encoding: chunked\r\ncontent-length: 2\r\n",
                "{}",
            ),
            meant: refused(),
        },
        Case {
            name: "bare_lf_line_ends",
            bytes: format!(
                "POST {path} HTTP/1.1\nhost: x\ncontent-type: application/json\ncontent-length: 2\n\n{{}}"
            )
            .into_bytes(),
            meant: meant(b"{}"),
        },
        Case {
            // Read with LF as a line end, this is CL.TE (the coding wins); read without, a
            // 2-byte body.
            name: "bare_lf_hiding_te",
            bytes: post(
                "x-a: b\ntransfer-encoding: chunked\r\ncontent-length: 2\r\n",
                "2\r\n{}\r\n0\r\n\r\n",
            ),
            meant: meant(b"{}"),
        },
        Case {
            name: "chunk_size_signed",
            bytes: post("transfer-encoding: chunked\r\n", "+2\r\n{}\r\n0\r\n\r\n"),
            meant: refused(),
        },
        Case {
            name: "chunk_size_bare_lf",
            bytes: post("transfer-encoding: chunked\r\n", "2\n{}\r\n0\r\n\r\n"),
            meant: meant(b"{}"),
        },
        Case {
            name: "no_host",
            bytes: format!(
                "POST {path} HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{{}}"
            )
            .into_bytes(),
            meant: refused(),
        },
        Case {
            name: "two_hosts",
            bytes: post("host: y\r\ncontent-length: 2\r\n", "{}"),
            meant: refused(),
        },
    ]
}

/// The request sent after each case: served only if the connection is still in step.
pub fn probe(path: &str) -> Vec<u8> {
    format!(
        "POST {path}?probe HTTP/1.1\r\n{COMMON}content-length: 2\r\nconnection: close\r\n\r\n{{}}"
    )
    .into_bytes()
}

/// What the probe looks like to the service.
pub fn probe_seen(path: &str) -> Seen {
    Seen::post(&format!("{path}?probe"), b"{}")
}

/// Several requests on one connection, the last one closing it, and what they mean: the
/// stream split at every byte must always come out as these.
pub fn pipelined(path: &str) -> (Vec<u8>, Vec<Seen>) {
    let mut bytes = format!(
        "POST {path} HTTP/1.1\r\n{COMMON}content-length: 7\r\n\r\n{{\"a\":1}}\
POST {path}?two HTTP/1.1\r\n{COMMON}transfer-encoding: chunked\r\n\r\n3\r\n{{\"b\r\n4\r\n\":2}}\r\n0\r\n\r\n\
POST {path}?three HTTP/1.1\r\n{COMMON}content-length: 0\r\n\r\n"
    )
    .into_bytes();
    bytes.extend_from_slice(&probe(path));
    let meant = vec![
        Seen::post(path, b"{\"a\":1}"),
        Seen::post(&format!("{path}?two"), b"{\"b\":2}"),
        Seen::post(&format!("{path}?three"), b""),
        probe_seen(path),
    ];
    (bytes, meant)
}

/// Whether the outcome of `case` keeps the rule: the service saw exactly what was meant
/// (and then the probe, or the connection closed), or a 400 came and the service saw no
/// more than part of what was meant.
pub fn judge(case: &Case, path: &str, seen: &[Seen], answer: &str) -> Result<(), String> {
    let mut whole = case.meant.clone();
    whole.push(probe_seen(path));
    let refused = answer.contains("HTTP/1.1 400 ") || answer.contains("HTTP/1.0 400 ");
    let kept = seen == whole
        || (!case.meant.is_empty() && seen == case.meant)
        || (refused && case.meant.starts_with(seen));
    if kept {
        Ok(())
    } else {
        Err(format!(
            "{}: the service saw {seen:?}; meant {:?}; answer {answer:?}",
            case.name, case.meant
        ))
    }
}

/// Sends `pieces` on a new connection (a short pause between them, so they arrive as
/// separate reads) and reads until the server closes it (at most 10 s).
pub async fn exchange(addr: SocketAddr, pieces: &[&[u8]]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // A server that refused early may have closed already.
        if stream.write_all(piece).await.is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the connection was not closed: {:?}",
        String::from_utf8_lossy(&answer)
    );
    String::from_utf8_lossy(&answer).into_owned()
}
