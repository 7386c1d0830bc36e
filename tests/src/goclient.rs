//! Apache's official Go client (`github.com/apache/rocketmq-client-go/v2`) as a test peer,
//! driven through our harness in `interop/go` (see its `main.go` for the sub-commands).
//!
//! [`GoClient::get`] builds the harness once per test process with the `go` tool (modules come
//! from the Go module proxy; `interop/go/go.sum` pins them) into `<target>/interop-go/`. Without
//! a `go` tool the tests print one `SKIPPED:` line and pass, unless `ROCKETMQ_IT_REQUIRE_GO=1`
//! makes that a failure (CI sets it).

use crate::paths::{target_dir, workspace_root};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::harness::{HarnessError, HarnessRun};

/// Set to `1` to fail, instead of skip, when the Go toolchain is missing.
pub const REQUIRE_VAR: &str = "ROCKETMQ_IT_REQUIRE_GO";

/// The built Go harness.
#[derive(Debug, Clone)]
pub struct GoClient {
    binary: PathBuf,
}

fn find_go() -> Option<PathBuf> {
    let ok = |p: &Path| {
        Command::new(p)
            .arg("version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if ok(Path::new("go")) {
        return Some(PathBuf::from("go"));
    }
    // The official tarball's place, often not on a non-login PATH.
    let usual = Path::new("/usr/local/go/bin/go");
    ok(usual).then(|| usual.to_path_buf())
}

fn setup(reason: impl Into<String>) -> HarnessError {
    HarnessError::Setup {
        client: "go".into(),
        reason: reason.into(),
    }
}

fn build() -> Result<Option<GoClient>, HarnessError> {
    let Some(go) = find_go() else {
        if std::env::var(REQUIRE_VAR).as_deref() == Ok("1") {
            return Err(setup(format!(
                "no `go` tool on PATH or in /usr/local/go/bin, and {REQUIRE_VAR}=1"
            )));
        }
        return Ok(None);
    };
    let src = workspace_root().join("interop").join("go");
    let out_dir = target_dir().join("interop-go");
    std::fs::create_dir_all(&out_dir).map_err(|e| HarnessError::Io {
        what: format!("creating {}", out_dir.display()),
        source: e,
    })?;
    let binary = out_dir.join("rmq-go-harness");
    // Built under a per-process name, then renamed: another test process may be running the
    // previous binary.
    let tmp = out_dir.join(format!("rmq-go-harness.{}", std::process::id()));
    let out = Command::new(&go)
        .arg("build")
        .arg("-o")
        .arg(&tmp)
        .arg(".")
        .current_dir(&src)
        .env("GOFLAGS", "-mod=mod -buildvcs=false")
        // Never fetch a newer toolchain; go.mod asks for 1.21.
        .env("GOTOOLCHAIN", "local")
        .output()
        .map_err(|e| HarnessError::Io {
            what: format!("running {} build", go.display()),
            source: e,
        })?;
    if !out.status.success() {
        return Err(setup(format!(
            "`go build` in {} failed ({}):\n{}",
            src.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    std::fs::rename(&tmp, &binary).map_err(|e| HarnessError::Io {
        what: format!("moving the harness to {}", binary.display()),
        source: e,
    })?;
    Ok(Some(GoClient { binary }))
}

impl GoClient {
    /// The harness, built on first use; `Ok(None)` when Go is missing and not required (the
    /// caller prints its `SKIPPED:` line).
    pub fn get() -> Result<Option<GoClient>, String> {
        static BUILT: OnceLock<Result<Option<GoClient>, String>> = OnceLock::new();
        BUILT
            .get_or_init(|| build().map_err(|e| e.to_string()))
            .clone()
    }

    /// The harness binary.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Starts `go-harness <sub> <args>` as run `name`. The client logs at `warn` to stderr.
    pub fn run(&self, name: &str, sub: &str, args: &[String]) -> Result<HarnessRun, HarnessError> {
        let mut cmd = Command::new(&self.binary);
        cmd.arg(sub)
            .args(args)
            .env("ROCKETMQ_GO_LOG_LEVEL", "warn")
            // -ts for consume-from-timestamp is a local time; make local UTC.
            .env("TZ", "UTC");
        HarnessRun::spawn(format!("go {name}"), cmd)
    }
}
