//! Apache's official Java client (`org.apache.rocketmq:rocketmq-client`, 4.9.x and the 5.x
//! remoting client) as a test peer, driven through our harness `interop/java/RmqHarness.java`
//! (same sub-commands and events as the Go harness).
//!
//! The client's classpath comes from Maven Central through `interop/apache/fetch-cp.sh`
//! (cached as `<target>/apache-rmq/cp/client-<version>.txt`); the harness is compiled once per
//! version and test process into `<target>/interop-java/<version>/classes`. Without `java`,
//! `javac` or a resolvable classpath the tests print one `SKIPPED:` line and pass, unless
//! `ROCKETMQ_IT_REQUIRE_APACHE=1` (the variable of the Apache interop tests) makes that a
//! failure.

use crate::paths::{target_dir, workspace_root};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use crate::harness::{HarnessError, HarnessRun};

/// Set to `1` to fail, instead of skip, when Java or the client's classpath is unavailable.
pub const REQUIRE_VAR: &str = "ROCKETMQ_IT_REQUIRE_APACHE";

/// The Java client versions the tests run: the last 4.x client and the newest 5.x client on
/// Maven Central (5.5.1 publishes no rocketmq-client).
pub const VERSIONS: [&str; 2] = ["4.9.8", "5.5.0"];

/// A compiled harness for one client version.
#[derive(Debug, Clone)]
pub struct JavaClient {
    version: String,
    classpath: String,
    home: PathBuf,
}

fn works(tool: &str, arg: &str) -> bool {
    Command::new(tool)
        .arg(arg)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn setup(version: &str, reason: impl Into<String>) -> HarnessError {
    HarnessError::Setup {
        client: format!("java {version}"),
        reason: reason.into(),
    }
}

/// `Ok(None)`: a prerequisite is missing and not required (`why` printed by the caller).
fn prepare(version: &str) -> Result<Result<JavaClient, String>, HarnessError> {
    let required = std::env::var(REQUIRE_VAR).as_deref() == Ok("1");
    let missing = |why: String| {
        if required {
            Err(setup(version, format!("{why}, and {REQUIRE_VAR}=1")))
        } else {
            Ok(Err(why))
        }
    };
    if !works("java", "-version") || !works("javac", "-version") {
        return missing("no `java` / `javac` on PATH".into());
    }
    let root = workspace_root();
    let fetch = root.join("interop").join("apache").join("fetch-cp.sh");
    let cp_file = crate::apache::classpath_dir().join(format!("client-{version}.txt"));
    if !cp_file.exists() {
        if !works("mvn", "-v") {
            return missing("no `mvn` to resolve the client from Maven Central".into());
        }
        let out = Command::new("bash")
            .arg(&fetch)
            .arg(format!("client:{version}"))
            .output()
            .map_err(|e| HarnessError::Io {
                what: format!("running {}", fetch.display()),
                source: e,
            })?;
        if !out.status.success() {
            return Err(setup(
                version,
                format!(
                    "{} client:{version} failed ({}):\n{}",
                    fetch.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ),
            ));
        }
    }
    let classpath = std::fs::read_to_string(&cp_file)
        .map_err(|e| HarnessError::Io {
            what: format!("reading {}", cp_file.display()),
            source: e,
        })?
        .trim()
        .to_string();
    let src = root.join("interop").join("java").join("RmqHarness.java");
    let source = std::fs::read(&src).map_err(|e| HarnessError::Io {
        what: format!("reading {}", src.display()),
        source: e,
    })?;
    let base = target_dir().join("interop-java").join(version);
    // Compiled classes are kept per source and classpath (a later run with both unchanged
    // skips javac); each process compiles into a directory of its own, then renames it into
    // place, so concurrent test processes never see half-written classes.
    let key = {
        let mut h = DefaultHasher::new();
        source.hash(&mut h);
        classpath.hash(&mut h);
        h.finish()
    };
    let classes = base.join(format!("classes-{key:016x}"));
    let home = base.join("home");
    std::fs::create_dir_all(&home).map_err(|e| HarnessError::Io {
        what: format!("creating {}", home.display()),
        source: e,
    })?;
    if !classes.join("RmqHarness.class").exists() {
        let tmp = base.join(format!("classes-{key:016x}.{}", std::process::id()));
        std::fs::create_dir_all(&tmp).map_err(|e| HarnessError::Io {
            what: format!("creating {}", tmp.display()),
            source: e,
        })?;
        let out = Command::new("javac")
            .arg("-nowarn")
            .arg("-d")
            .arg(&tmp)
            .arg("-cp")
            .arg(&classpath)
            .arg(&src)
            .output()
            .map_err(|e| HarnessError::Io {
                what: "running javac".into(),
                source: e,
            })?;
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(setup(
                version,
                format!(
                    "javac {} failed:\n{}",
                    src.display(),
                    String::from_utf8_lossy(&out.stderr)
                ),
            ));
        }
        // Losing the race to another process leaves its identical classes in place.
        if std::fs::rename(&tmp, &classes).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
    Ok(Ok(JavaClient {
        version: version.to_string(),
        classpath: format!("{}:{classpath}", classes.display()),
        home,
    }))
}

impl JavaClient {
    /// The harness for `version`, prepared on first use. `Ok(Err(why))` when a prerequisite
    /// is missing and not required (the caller prints its `SKIPPED:` line with `why`).
    pub fn get(version: &str) -> Result<Result<JavaClient, String>, String> {
        type Cache = Mutex<HashMap<String, Result<Result<JavaClient, String>, String>>>;
        static PREPARED: OnceLock<Cache> = OnceLock::new();
        let mut cache = PREPARED
            .get_or_init(Cache::default)
            .lock()
            .expect("java harness cache");
        cache
            .entry(version.to_string())
            .or_insert_with(|| prepare(version).map_err(|e| e.to_string()))
            .clone()
    }

    /// The client version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Starts `RmqHarness <sub> <args>` as run `name`. `user.home` and the client's log root
    /// are under the target directory, never the real home.
    pub fn run(&self, name: &str, sub: &str, args: &[String]) -> Result<HarnessRun, HarnessError> {
        let logs = self.home.join("logs");
        let mut cmd = Command::new("java");
        cmd.arg("-Xss512k")
            .arg("-Xmx256m")
            .arg("-XX:+UseSerialGC")
            .arg("-XX:TieredStopAtLevel=1")
            .arg(format!("-Duser.home={}", self.home.display()))
            .arg(format!("-Drocketmq.client.logRoot={}", logs.display()))
            .arg(format!("-Drocketmq.log.root={}", logs.display()))
            .arg("-Drocketmq.client.logLevel=WARN")
            // -ts for consume-from-timestamp is a local time.
            .arg("-Duser.timezone=UTC")
            .arg("-cp")
            .arg(&self.classpath)
            .arg("RmqHarness")
            .arg(sub)
            .args(args);
        HarnessRun::spawn(format!("java {} {name}", self.version), cmd)
    }
}
