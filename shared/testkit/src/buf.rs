//! `buf curl`: an independent Go implementation of Connect, gRPC and gRPC-Web, with the
//! project's own proto files as the schema. `scripts/test` installs buf and sets `BUF`;
//! otherwise `buf` must be on the PATH.

use std::path::PathBuf;
use std::process::Command;

/// The buf CLI: `BUF`, or `buf` on the PATH.
pub fn bin() -> PathBuf {
    if let Some(path) = std::env::var_os("BUF") {
        return PathBuf::from(path);
    }
    let on_path = Command::new("buf").arg("--version").output();
    match on_path {
        Ok(out) if out.status.success() => PathBuf::from("buf"),
        _ => panic!(
            "buf CLI not found: run the tests with `scripts/test` (it installs buf from npm), \
             or `npm install -g @bufbuild/buf`, or set BUF=/path/to/buf"
        ),
    }
}

/// What `buf curl` did: whether it exited successfully, and its stdout and stderr.
pub struct BufCurl {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `buf curl --protocol <protocol> <extra...> -d <body> <url>` (blocking).
pub fn buf_curl(url: &str, protocol: &str, extra: &[&str], body: &str) -> BufCurl {
    let proto = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let out = Command::new(bin())
        .arg("curl")
        .arg("--schema")
        .arg(proto)
        .args(["--protocol", protocol])
        .args(extra)
        .args(["-d", body, url])
        .output()
        .expect("buf runs");
    BufCurl {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
