//! A bounded mutation fuzzer on stable Rust, for where libFuzzer cannot run: it mutates the
//! cargo-fuzz corpora (`fuzz/corpus/<target>/`) and checks each input with the same
//! properties as the fuzz targets (`platform_http1::checks`). A failing input is written
//! to the corpus as `crash-<hash>` (so it replays in `tests/corpus.rs`; the first ten per
//! target) and reported. Checked against itself: with the bare-LF guard of
//! `request_head::parse` taken out, it finds a bare-LF head within a second.
//!
//! `cargo run --release -p platform-http1 --example mutate -- [seconds per target] [seed]`

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Pieces an HTTP/1.1 parser treats specially, spliced into inputs.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b"\r\n\r\n",
    b": ",
    b":",
    b" ",
    b"\t",
    b"\0",
    b",",
    b";",
    b"chunked",
    b"transfer-encoding: ",
    b"Transfer-Encoding: chunked\r\n",
    b"content-length: ",
    b"Content-Length: 0\r\n",
    b"host: x\r\n",
    b"connection: close\r\n",
    b"te: trailers\r\n",
    b"0\r\n\r\n",
    b"ffffffffffffffff",
    b"HTTP/1.1 ",
    b"HTTP/1.0",
    b" HTTP/1.1\r\n",
    b"100 Continue\r\n\r\n",
    b"\xff",
];

/// A fuzz target: its name (and corpus directory) and the properties it checks.
type Target = (&'static str, fn(&[u8]));

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(8) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            1 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] = rng.next() as u8;
            }
            2 if !input.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(input.len());
                input.drain(at.min(end)..end);
            }
            3 | 4 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                input.splice(at..at, token.iter().copied());
            }
            5 if !input.is_empty() => {
                let from = rng.below(input.len());
                let end = (from + 1 + rng.below(16)).min(input.len());
                let piece = input[from..end].to_vec();
                input.splice(at..at, piece);
            }
            6 => {
                let other = &corpus[rng.below(corpus.len())];
                let from = rng.below(other.len() + 1);
                input.truncate(at);
                input.extend_from_slice(&other[from..]);
            }
            _ => {
                let digits = format!("{:x}", rng.next() >> rng.below(64));
                input.splice(at..at, digits.bytes());
            }
        }
    }
    input.truncate(80 * 1024);
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(30);
    let seed: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15);
    // Failing checks are reported once per input, not as a panic message per execution.
    std::panic::set_hook(Box::new(|_| {}));
    let targets: [Target; 3] = [
        ("request_head", platform_http1::checks::request_head),
        ("response_head", platform_http1::checks::response_head),
        ("chunked", platform_http1::checks::chunked),
    ];
    let mut failures = 0;
    for (target, check) in targets {
        let dir = corpus_dir(target);
        let corpus: Vec<Vec<u8>> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        if corpus.is_empty() {
            eprintln!("{target}: empty corpus at {}", dir.display());
            std::process::exit(2);
        }
        let mut rng = Rng(seed ^ target.len() as u64);
        let until = Instant::now() + Duration::from_secs(seconds);
        let (mut runs, mut found) = (0u64, 0u64);
        while Instant::now() < until {
            for _ in 0..256 {
                let mut input = corpus[rng.below(corpus.len())].clone();
                mutate(&mut rng, &mut input, &corpus);
                runs += 1;
                if std::panic::catch_unwind(|| check(&input)).is_err() {
                    found += 1;
                    let mut hasher = DefaultHasher::new();
                    input.hash(&mut hasher);
                    let path = dir.join(format!("crash-{:016x}", hasher.finish()));
                    // A few inputs to replay; a broken property fails on thousands.
                    if found <= 10 && !path.exists() {
                        eprintln!(
                            "{target}: property failed on {:?} -> {}",
                            String::from_utf8_lossy(&input),
                            path.display()
                        );
                        let _ = std::fs::write(&path, &input);
                    }
                }
            }
        }
        println!("{target}: {runs} executions in {seconds} s, {found} failing");
        failures += found;
    }
    if failures > 0 {
        std::process::exit(1);
    }
}
