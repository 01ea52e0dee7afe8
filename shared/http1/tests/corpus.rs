//! The fuzz corpora (`fuzz/corpus/<target>/`) replayed as ordinary tests: every input keeps
//! its target's properties (`platform_http1::checks`), so CI runs what the fuzzer found
//! without a fuzzer; and every smuggling case of `platform_testkit::http1::smuggling` is in
//! the corpora, so the fuzzer starts from them.

use std::path::{Path, PathBuf};

use platform_testkit::http1::smuggling;

const PATH: &str = "/a";

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// Every input of a target's corpus, with its file name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("read"))
        })
        .collect();
    inputs.sort();
    inputs
}

fn replay(target: &str, check: fn(&[u8])) {
    let inputs = inputs(target);
    assert!(inputs.len() >= 5, "{target}: a corpus of {}", inputs.len());
    for (name, input) in inputs {
        if std::panic::catch_unwind(|| check(&input)).is_err() {
            panic!("{target}/{name}: {:?}", String::from_utf8_lossy(&input));
        }
    }
}

#[test]
fn the_request_head_corpus_keeps_its_properties() {
    replay("request_head", platform_http1::checks::request_head);
}

#[test]
fn the_response_head_corpus_keeps_its_properties() {
    replay("response_head", platform_http1::checks::response_head);
}

#[test]
fn the_chunked_corpus_keeps_its_properties() {
    replay("chunked", platform_http1::checks::chunked);
}

/// The inputs the smuggling battery brings to each corpus: each case whole (request head
/// target), and the body of each chunked one (chunked target).
fn smuggling_inputs() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut inputs = Vec::new();
    for case in smuggling::cases(PATH) {
        let name = format!("smuggling-{}", case.name);
        let lower = case.bytes.to_ascii_lowercase();
        if lower.windows(17).any(|w| w == b"transfer-encoding")
            && let Some(end) = case.bytes.windows(4).position(|w| w == b"\r\n\r\n")
        {
            inputs.push(("chunked", name.clone(), case.bytes[end + 4..].to_vec()));
        }
        inputs.push(("request_head", name, case.bytes));
    }
    let (stream, _) = smuggling::pipelined(PATH);
    inputs.push(("request_head", "smuggling-pipelined".to_owned(), stream));
    inputs
}

#[test]
fn every_smuggling_case_is_in_the_corpora() {
    for (target, name, bytes) in smuggling_inputs() {
        let present = inputs(target).into_iter().any(|(_, input)| input == bytes);
        assert!(
            present,
            "{target}/{name} missing: cargo test -p platform-http1 --test corpus -- --ignored"
        );
    }
}

/// Writes the smuggling inputs missing from the corpora (run with `--ignored` after adding
/// a case).
#[test]
#[ignore]
fn write_the_smuggling_cases_into_the_corpora() {
    for (target, name, bytes) in smuggling_inputs() {
        let path = corpus(target).join(name);
        if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
            std::fs::create_dir_all(corpus(target)).expect("corpus dir");
            std::fs::write(&path, &bytes).expect("write");
        }
    }
}
