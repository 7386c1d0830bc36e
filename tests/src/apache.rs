//! Real Apache RocketMQ servers (NameServer, Broker) and `mqadmin` as test peers.
//!
//! The jars come from Maven Central: `interop/apache/fetch-cp.sh` resolves each role's runtime
//! classpath once (cached in [`classpath_dir`], jars in `~/.m2`), and
//! `interop/apache/apache-rmq.sh` runs the JVMs. [`ApacheCluster::start`] starts a NameServer
//! and a Broker on free 127.0.0.1 ports in a temporary directory, waits for their ready lines,
//! and kills both (by PID) when dropped; on failure their output and log tails are in the error.
//!
//! Without `java` (or without `mvn` before the classpaths are cached) [`apache_or_skip`] prints
//! one `SKIPPED: ...` line to the real standard error and the test returns early, unless
//! `ROCKETMQ_IT_REQUIRE_APACHE=1` (CI sets it), which turns the skip into a panic.
//!
//! Environment:
//! - `ROCKETMQ_IT_REQUIRE_APACHE=1`: missing tools fail the test instead of skipping it.
//! - `ROCKETMQ_IT_KEEP_APACHE=1`: keep every cluster's directory (config, store, logs).
//! - `JAVA`: the `java` to run (default: the one on `PATH`).
//!
//! ```no_run
//! use rocketmq_it::apache::{apache_or_skip, ApacheCluster, ClusterOptions, V4};
//!
//! if !apache_or_skip("doc example") {
//!     return;
//! }
//! let cluster = ApacheCluster::start(V4, &ClusterOptions::default()).unwrap();
//! let out = cluster.mqadmin(&["clusterList"]).unwrap();
//! assert!(out.contains(&cluster.broker_addr().to_string()));
//! ```

use crate::eventually_some_blocking;
use crate::paths::{target_dir, workspace_root};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use rocketmq_rs_remoting::util::MutexExt;

use crate::ChildGuard;

/// The 4.x servers run: 4.9.7, because Maven Central has no `rocketmq-namesrv` or
/// `rocketmq-broker` 4.9.8 (its client and tools 4.9.8 are there).
pub const V4: &str = "4.9.7";
/// The last 5.x line whose remoting JSON is fastjson 1.
pub const V5_3: &str = "5.3.3";
/// The newest 5.x with every role on Maven Central (5.5.1 has only `rocketmq-broker`).
pub const V5_NEWEST: &str = "5.5.0";
/// Every server version the interop tests cover.
pub const VERSIONS: [&str; 3] = [V4, V5_3, V5_NEWEST];

/// Set to `1` to make a missing `java`/`mvn` fail the Apache tests instead of skipping them.
pub const REQUIRE_ENV: &str = "ROCKETMQ_IT_REQUIRE_APACHE";

const NAMESRV_READY: Duration = Duration::from_secs(90);
const BROKER_READY: Duration = Duration::from_secs(180);
const PROVISION_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const MQADMIN_TIMEOUT: Duration = Duration::from_secs(120);
const READY_MARK: &str = "boot success";
const SCRATCH_MARK: &str = ".rocketmq-it-scratch";
/// Server roles `start` needs (the Java client is provisioned on demand by its users).
const SERVER_ROLES: [&str; 3] = ["namesrv", "broker", "tools"];

/// What went wrong provisioning or running Apache RocketMQ.
#[derive(Debug, thiserror::Error)]
pub enum ApacheError {
    /// `java` or `mvn` is missing; the tests skip (or fail when required).
    #[error("Apache RocketMQ unavailable: {0}")]
    Unavailable(String),
    /// An I/O operation failed; `what` says which.
    #[error("{what}: {source}")]
    Io {
        /// The operation that failed.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `fetch-cp.sh` failed or took too long.
    #[error("provisioning Apache RocketMQ {version}: {detail}")]
    Provision {
        /// The version being resolved.
        version: String,
        /// Its exit status and output tail.
        detail: String,
    },
    /// A server did not print its ready line: it exited, or the wait timed out.
    #[error("Apache {role} {version} did not start: {reason}\n{logs}")]
    Start {
        /// `namesrv` or `broker`.
        role: &'static str,
        /// The version.
        version: String,
        /// Why the wait ended.
        reason: String,
        /// Its console output and log tails.
        logs: String,
    },
    /// `mqadmin` did not finish in time or could not run.
    #[error("mqadmin {args}: {detail}")]
    Mqadmin {
        /// Its arguments.
        args: String,
        /// What happened, with its output.
        detail: String,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ApacheError {
    let what = what.into();
    move |source| ApacheError::Io { what, source }
}

/// `interop/apache/` in the workspace.
pub fn scripts_dir() -> PathBuf {
    workspace_root().join("interop").join("apache")
}

/// Where the classpath files are cached: `$RMQ_CP_DIR`, else `apache-rmq/cp` in
/// `$CARGO_TARGET_DIR` (CI's fresh clone shares its checkout's target dir, and so this cache),
/// else in `<workspace>/target`.
pub fn classpath_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("RMQ_CP_DIR") {
        return PathBuf::from(d);
    }
    target_dir().join("apache-rmq").join("cp")
}

fn java_cmd() -> String {
    std::env::var("JAVA").unwrap_or_else(|_| "java".to_string())
}

fn runs(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn cached(role: &str, version: &str) -> bool {
    fs::metadata(classpath_dir().join(format!("{role}-{version}.txt")))
        .map(|m| m.len() > 0)
        .unwrap_or(false)
}

/// Why the Apache tests cannot run here, if they cannot: no `java`, or no `mvn` while some
/// classpath is not cached yet.
pub fn unavailable_reason() -> Option<String> {
    static REASON: Mutex<Option<Option<String>>> = Mutex::new(None);
    let mut r = REASON.lock_unpoisoned();
    r.get_or_insert_with(|| {
        if !runs(&java_cmd(), "-version") {
            return Some(format!("`{} -version` does not run", java_cmd()));
        }
        let all_cached = VERSIONS
            .iter()
            .all(|v| SERVER_ROLES.iter().all(|role| cached(role, v)));
        if !all_cached && !runs("mvn", "-v") {
            return Some("`mvn -v` does not run and the classpaths are not cached".into());
        }
        None
    })
    .clone()
}

fn required() -> bool {
    std::env::var(REQUIRE_ENV)
        .map(|v| v == "1")
        .unwrap_or(false)
}

/// True when the Apache tests can run. Otherwise prints one loud `SKIPPED: ...` line per test
/// process (to the real standard error, which the test harness does not capture) and returns
/// false, or panics when `ROCKETMQ_IT_REQUIRE_APACHE=1`.
pub fn apache_or_skip(test: &str) -> bool {
    let Some(reason) = unavailable_reason() else {
        return true;
    };
    if required() {
        panic!("{test}: {REQUIRE_ENV}=1 but {reason}");
    }
    static LOUD: Once = Once::new();
    LOUD.call_once(|| {
        let exe = std::env::args().next().unwrap_or_default();
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: Apache RocketMQ interop tests in {exe}: {reason} (install a JDK 17 and \
             Maven, or set {REQUIRE_ENV}=1 to fail instead)"
        );
    });
    tracing::debug!("skipped: {test}");
    false
}

/// Resolves (once, cached on disk) the classpaths of `roles` at `version`.
pub fn provision(version: &str, roles: &[&str]) -> Result<(), ApacheError> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock_unpoisoned();
    let missing: Vec<String> = roles
        .iter()
        .filter(|r| !cached(r, version))
        .map(|r| format!("{r}:{version}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let log_path = std::env::temp_dir().join(format!(
        "rocketmq-it-fetch-cp-{}-{version}.log",
        std::process::id()
    ));
    let log = File::create(&log_path).map_err(io_err(format!("creating {log_path:?}")))?;
    let log2 = log
        .try_clone()
        .map_err(io_err("duplicating the log handle"))?;
    let mut cmd = Command::new("bash");
    cmd.arg(scripts_dir().join("fetch-cp.sh"))
        .args(&missing)
        .env("RMQ_CP_DIR", classpath_dir())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    let mut child =
        ChildGuard::spawn("fetch-cp.sh", &mut cmd).map_err(|e| ApacheError::Provision {
            version: version.into(),
            detail: e.to_string(),
        })?;
    let status = child
        .wait_timeout(PROVISION_TIMEOUT)
        .map_err(io_err("waiting for fetch-cp.sh"))?;
    let out = fs::read_to_string(&log_path).unwrap_or_default();
    let _ = fs::remove_file(&log_path);
    match status {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(ApacheError::Provision {
            version: version.into(),
            detail: format!("fetch-cp.sh {s}:\n{}", tail(&out, 30)),
        }),
        None => Err(ApacheError::Provision {
            version: version.into(),
            detail: format!("fetch-cp.sh still running after {PROVISION_TIMEOUT:?}"),
        }),
    }
}

/// The last `n` lines of `s`.
fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn tail_file(path: &Path, n: usize) -> Option<String> {
    let bytes = fs::read(path).ok()?;
    let start = bytes.len().saturating_sub(64 * 1024);
    Some(tail(&String::from_utf8_lossy(&bytes[start..]), n))
}

/// Broker settings beyond the script's defaults (`brokerIP1=127.0.0.1`, small store files,
/// `autoCreateTopicEnable=true`, ...).
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// `autoCreateTopicEnable`: a send to an unknown topic creates it from `TBW102`.
    pub auto_create_topic: bool,
    /// `enablePropertyFilter`: SQL92 selectors are accepted.
    pub enable_property_filter: bool,
    /// Further `key=value` broker properties, applied last.
    pub broker_props: Vec<(String, String)>,
    /// Also start a `SLAVE` of `broker-a` (brokerId 1); the master then runs as
    /// `SYNC_MASTER` (a send is acknowledged once the slave has it).
    pub with_slave: bool,
    /// ACL 1.0: the broker checks every request against this `plain_acl.yml` (written to its
    /// `$ROCKETMQ_HOME/conf/`). 4.x runs it with `aclEnable=true`; 5.3+ has no ACL 1.0 engine
    /// any more, so it runs ACL 2.0 (authentication + authorization) with
    /// `migrateAuthFromV1Enabled=true`, which turns the file's accounts into users and policies
    /// at start-up. The NameServer runs without ACL, as in most deployments.
    pub acl_v1_yaml: Option<String>,
    /// TLS enforced on the NameServer and the Broker (plain connections are refused), with
    /// this certificate; the broker's own connections to the NameServer use TLS too.
    pub tls_enforcing: Option<ServerTls>,
}

/// A server certificate for [`ClusterOptions::tls_enforcing`]: PEM chain and PKCS#8 PEM key
/// (what Netty's `SslContextBuilder.forServer` reads).
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The certificate chain, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub key_pem: String,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            auto_create_topic: true,
            enable_property_filter: true,
            broker_props: Vec::new(),
            with_slave: false,
            acl_v1_yaml: None,
            tls_enforcing: None,
        }
    }
}

impl ClusterOptions {
    fn props(&self, version: &str) -> Vec<String> {
        let mut v = vec![
            format!("autoCreateTopicEnable={}", self.auto_create_topic),
            format!("enablePropertyFilter={}", self.enable_property_filter),
        ];
        if self.with_slave {
            v.push("brokerRole=SYNC_MASTER".into());
        }
        if self.acl_v1_yaml.is_some() {
            if version.starts_with("4.") {
                v.push("aclEnable=true".into());
            } else {
                // 5.3.3 and 5.5.0 read these into AuthConfig (BrokerStartup); the Local*
                // metadata providers keep users and ACLs in RocksDB under the store's config
                // dir; AuthMigrator fills them from plain_acl.yml before the broker serves.
                v.extend(
                    [
                        "authenticationEnabled=true",
                        "authorizationEnabled=true",
                        "authenticationProvider=org.apache.rocketmq.auth.authentication.provider.DefaultAuthenticationProvider",
                        "authenticationMetadataProvider=org.apache.rocketmq.auth.authentication.provider.LocalAuthenticationMetadataProvider",
                        "authorizationProvider=org.apache.rocketmq.auth.authorization.provider.DefaultAuthorizationProvider",
                        "authorizationMetadataProvider=org.apache.rocketmq.auth.authorization.provider.LocalAuthorizationMetadataProvider",
                        "migrateAuthFromV1Enabled=true",
                    ]
                    .map(String::from),
                );
            }
        }
        v.extend(
            self.broker_props
                .iter()
                .map(|(k, val)| format!("{k}={val}")),
        );
        v
    }

    fn key(&self, version: &str) -> String {
        let mut k = self.props(version).join(",");
        if let Some(y) = &self.acl_v1_yaml {
            k.push_str(&format!("|acl:{y}"));
        }
        if let Some(t) = &self.tls_enforcing {
            k.push_str(&format!("|tls:{}", t.cert_pem));
        }
        k
    }

    /// Writes the certificate files under `root` and returns the JVM options that enforce TLS
    /// with them (Apache's `TlsSystemConfig` system properties), or "" without TLS.
    fn java_opts(&self, root: &Path) -> Result<String, ApacheError> {
        let Some(tls) = &self.tls_enforcing else {
            return Ok(String::new());
        };
        let dir = root.join("tls");
        fs::create_dir_all(&dir).map_err(io_err(format!("creating {dir:?}")))?;
        let cert = dir.join("server.pem");
        let key = dir.join("server.key");
        fs::write(&cert, &tls.cert_pem).map_err(io_err(format!("writing {cert:?}")))?;
        fs::write(&key, &tls.key_pem).map_err(io_err(format!("writing {key:?}")))?;
        // tls.test.mode.enable defaults to true (a throw-away self-signed certificate); the
        // config file defaults to /etc/rocketmq/tls.properties, which must not leak in. The
        // broker dials the NameServer as a TLS client (tls.enable) without checking its
        // certificate (tls.client.authServer=false, Apache's default).
        Ok(format!(
            "-Dtls.server.mode=enforcing -Dtls.test.mode.enable=false -Dtls.enable=true \
             -Dtls.config.file={} -Dtls.server.certPath={} -Dtls.server.keyPath={} \
             -Dtls.server.need.client.auth=none -Dtls.client.authServer=false",
            dir.join("absent.properties").display(),
            cert.display(),
            key.display()
        ))
    }
}

/// One supervised JVM (through `apache-rmq.sh run-*`).
#[derive(Debug)]
struct JavaProc {
    role: &'static str,
    dir: PathBuf,
    out: PathBuf,
    guard: Option<ChildGuard>,
}

impl JavaProc {
    fn spawn(
        role: &'static str,
        dir: &Path,
        args: &[String],
        java_opts: &str,
    ) -> Result<JavaProc, ApacheError> {
        fs::create_dir_all(dir).map_err(io_err(format!("creating {dir:?}")))?;
        let out = dir.with_extension("out");
        let f = File::create(&out).map_err(io_err(format!("creating {out:?}")))?;
        let f2 = f.try_clone().map_err(io_err("duplicating a handle"))?;
        let mut cmd = Command::new("bash");
        cmd.arg(scripts_dir().join("apache-rmq.sh"))
            .args(args)
            .env("RMQ_CP_DIR", classpath_dir())
            .env("RMQ_WATCH_PID", std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(f)
            .stderr(f2);
        if !java_opts.is_empty() {
            cmd.env("RMQ_JAVA_OPTS", java_opts);
        }
        if let Some(root) = dir.parent() {
            cmd.env("RMQ_WATCH_CLEAN", root);
        }
        let guard =
            ChildGuard::spawn(format!("apache {role}"), &mut cmd).map_err(|e| ApacheError::Io {
                what: format!("spawning apache {role}"),
                source: std::io::Error::other(e.to_string()),
            })?;
        Ok(JavaProc {
            role,
            dir: dir.to_path_buf(),
            out,
            guard: Some(guard),
        })
    }

    fn output(&self) -> String {
        fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Console output plus the tails of the main log files, for error messages.
    fn logs(&self) -> String {
        let mut s = format!(
            "--- {} console ({}) ---\n{}\n",
            self.role,
            self.out.display(),
            tail(&self.output(), 40)
        );
        let logs = self.dir.join("logs");
        // A slave is a broker process: same log file names.
        let file_role = if self.role == "slave" {
            "broker"
        } else {
            self.role
        };
        for name in [
            format!("{file_role}.log"),
            format!("rocketmqlogs/{file_role}.log"),
            format!("rocketmqlogs/{file_role}_default.log"),
        ] {
            let p = logs.join(&name);
            if let Some(t) = tail_file(&p, 30) {
                s.push_str(&format!("--- {} ---\n{t}\n", p.display()));
            }
        }
        s
    }

    /// Waits for the ready line; returns it.
    fn wait_ready(&mut self, version: &str, timeout: Duration) -> Result<String, ApacheError> {
        // Some(Ok(line)) when ready, Some(Err(reason)) when the process ended first.
        let seen = eventually_some_blocking(timeout, "the ready line", || {
            let out = self.output();
            if let Some(line) = out.lines().find(|l| l.contains(READY_MARK)) {
                return Some(Ok(line.to_string()));
            }
            match self.guard.as_mut().map(|g| g.try_wait()) {
                Some(Ok(Some(st))) => Some(Err(Ok(format!("exited ({st}) before its ready line")))),
                Some(Err(e)) => Some(Err(Err(e))),
                _ => None,
            }
        });
        let reason = match seen {
            Ok(Ok(line)) => return Ok(line),
            Ok(Err(Ok(reason))) => reason,
            Ok(Err(Err(e))) => return Err(io_err("polling a server")(e)),
            Err(_) => format!("no ready line within {timeout:?}"),
        };
        Err(ApacheError::Start {
            role: self.role,
            version: version.into(),
            reason,
            logs: self.logs(),
        })
    }

    fn java_pid(&self) -> Option<u32> {
        fs::read_to_string(self.dir.join("java.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// SIGKILLs the JVM (by the PID its wrapper recorded), then the wrapper.
    fn kill(&mut self) {
        if let Some(pid) = self.java_pid() {
            let _ = Command::new("kill")
                .args(["-9", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        if let Some(mut g) = self.guard.take() {
            let _ = g.kill();
        }
    }
}

impl Drop for JavaProc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> Result<u16, ApacheError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(io_err("picking a free port"))
}

/// A broker port whose neighbours are free too: Apache brokers also bind `port - 2` (fast
/// remoting) and `port + 1` (HA).
fn free_broker_port() -> Result<u16, ApacheError> {
    for _ in 0..200 {
        let l = TcpListener::bind("127.0.0.1:0").map_err(io_err("picking a free port"))?;
        let p = l.local_addr().map_err(io_err("local_addr"))?.port();
        if p < 1026 || p == u16::MAX {
            continue;
        }
        let lo = TcpListener::bind(("127.0.0.1", p - 2));
        let hi = TcpListener::bind(("127.0.0.1", p + 1));
        if lo.is_ok() && hi.is_ok() {
            return Ok(p);
        }
    }
    Err(ApacheError::Io {
        what: "picking a broker port".into(),
        source: std::io::Error::other("no free port triple in 200 tries"),
    })
}

/// A fresh scratch directory marked as the harness's own, and whether to keep it.
fn scratch_root(version: &str) -> Result<(PathBuf, bool), ApacheError> {
    let root = tempfile::Builder::new()
        .prefix(&format!("apache-rmq-{version}-"))
        .tempdir()
        .map_err(io_err("creating the cluster directory"))?
        .keep();
    File::create(root.join(SCRATCH_MARK)).map_err(io_err("marking the scratch dir"))?;
    let keep = std::env::var("ROCKETMQ_IT_KEEP_APACHE")
        .map(|v| v == "1")
        .unwrap_or(false);
    Ok((root, keep))
}

/// Starts a NameServer under `root` and waits for its ready line. A port picked free can be
/// taken before the JVM binds it: bind failures are retried on another port.
fn spawn_namesrv(
    version: &str,
    root: &Path,
    java_opts: &str,
) -> Result<(JavaProc, SocketAddr), ApacheError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let port = free_port()?;
        let dir = root.join(format!("namesrv{attempt}"));
        let mut p = JavaProc::spawn(
            "namesrv",
            &dir,
            &[
                "run-namesrv".into(),
                version.into(),
                dir.display().to_string(),
                port.to_string(),
            ],
            java_opts,
        )?;
        match p.wait_ready(version, NAMESRV_READY) {
            Ok(_) => return Ok((p, SocketAddr::from(([127, 0, 0, 1], port)))),
            Err(e) if attempt < 3 && p.output().contains("Address already in use") => {
                tracing::warn!("namesrv port {port} taken, retrying: {e}");
                drop(p);
                let _ = fs::remove_dir_all(&dir);
                let _ = fs::remove_file(dir.with_extension("out"));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Starts broker `broker-a` under `root`, registered with `namesrv`, and waits for its ready
/// line (which must advertise 127.0.0.1 and the picked port).
fn spawn_broker(
    version: &str,
    root: &Path,
    namesrv: SocketAddr,
    opts: &ClusterOptions,
    java_opts: &str,
) -> Result<(JavaProc, SocketAddr), ApacheError> {
    let props = opts.props(version);
    spawn_broker_as("broker", version, root, namesrv, &props, opts, java_opts)
}

/// [`spawn_broker`] with `role` naming its directory (`broker`, `slave`) and `props` applied
/// after the script's defaults; `opts` for the ACL file, `java_opts` for the JVM.
fn spawn_broker_as(
    role: &'static str,
    version: &str,
    root: &Path,
    namesrv: SocketAddr,
    props: &[String],
    opts: &ClusterOptions,
    java_opts: &str,
) -> Result<(JavaProc, SocketAddr), ApacheError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let port = free_broker_port()?;
        let dir = root.join(format!("{role}{attempt}"));
        let mut args = vec![
            "run-broker".into(),
            version.into(),
            dir.display().to_string(),
            "broker-a".into(),
            port.to_string(),
            namesrv.to_string(),
        ];
        args.extend(props.iter().cloned());
        if let Some(yaml) = &opts.acl_v1_yaml {
            // apache-rmq.sh makes DIR/home the broker's ROCKETMQ_HOME (rocketmq.home.dir);
            // both lines read conf/plain_acl.yml there, and any conf/acl/*.yml (4.9.7 logs
            // that it looked).
            let conf = dir.join("home").join("conf");
            fs::create_dir_all(&conf).map_err(io_err(format!("creating {conf:?}")))?;
            let f = conf.join("plain_acl.yml");
            fs::write(&f, yaml).map_err(io_err(format!("writing {f:?}")))?;
        }
        let mut p = JavaProc::spawn(role, &dir, &args, java_opts)?;
        match p.wait_ready(version, BROKER_READY) {
            Ok(line) => {
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                // The broker advertises brokerIP1:listenPort; anything else would send
                // clients elsewhere (or to a non-loopback address).
                if !line.contains(&format!("[broker-a, {addr}]")) {
                    return Err(ApacheError::Start {
                        role,
                        version: version.into(),
                        reason: format!("ready line does not advertise {addr}: {line}"),
                        logs: p.logs(),
                    });
                }
                return Ok((p, addr));
            }
            Err(e) if attempt < 3 && p.output().contains("Address already in use") => {
                tracing::warn!("broker port {port} taken, retrying: {e}");
                drop(p);
                let _ = fs::remove_dir_all(&dir);
                let _ = fs::remove_file(dir.with_extension("out"));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Runs `f` in a fresh scratch directory; removes the directory if `f` fails (its error
/// carries the logs) unless `ROCKETMQ_IT_KEEP_APACHE=1`.
fn in_scratch<T>(
    version: &str,
    roles: &[&str],
    f: impl FnOnce(&Path, bool) -> Result<T, ApacheError>,
) -> Result<T, ApacheError> {
    if let Some(r) = unavailable_reason() {
        return Err(ApacheError::Unavailable(r));
    }
    provision(version, roles)?;
    let (root, keep) = scratch_root(version)?;
    let result = f(&root, keep);
    if result.is_err() && !keep {
        let _ = fs::remove_dir_all(&root);
    }
    result
}

/// An Apache Broker (`broker-a`, cluster `RmqIT`, `ASYNC_MASTER`) on 127.0.0.1, with its own
/// Apache NameServer ([`start`](Self::start)) or registered with another NameServer
/// ([`start_with_namesrv`](Self::start_with_namesrv)); what it started is killed on drop.
#[derive(Debug)]
pub struct ApacheCluster {
    version: String,
    root: PathBuf,
    keep: bool,
    namesrv_addr: SocketAddr,
    broker_addr: SocketAddr,
    broker: JavaProc,
    namesrv: Option<JavaProc>,
    slave: Option<(JavaProc, SocketAddr)>,
    started_in: Duration,
}

impl ApacheCluster {
    /// Provisions `version` (first time: Maven downloads), then starts a NameServer and a
    /// Broker and waits for both ready lines. Blocks (tens of seconds on a busy machine): call
    /// it outside async code or from a blocking thread.
    pub fn start(version: &str, opts: &ClusterOptions) -> Result<ApacheCluster, ApacheError> {
        in_scratch(version, &SERVER_ROLES, |root, keep| {
            let t0 = Instant::now();
            let java_opts = opts.java_opts(root)?;
            let (namesrv, namesrv_addr) = spawn_namesrv(version, root, &java_opts)?;
            let (broker, broker_addr) =
                spawn_broker(version, root, namesrv_addr, opts, &java_opts)?;
            let slave = if opts.with_slave {
                let mut props = opts.props(version);
                props.retain(|p| !p.starts_with("brokerRole="));
                props.extend(["brokerId=1".to_string(), "brokerRole=SLAVE".to_string()]);
                Some(spawn_broker_as(
                    "slave",
                    version,
                    root,
                    namesrv_addr,
                    &props,
                    opts,
                    &java_opts,
                )?)
            } else {
                None
            };
            Ok(ApacheCluster {
                version: version.into(),
                root: root.to_path_buf(),
                keep,
                namesrv_addr,
                broker_addr,
                broker,
                namesrv: Some(namesrv),
                slave,
                started_in: t0.elapsed(),
            })
        })
    }

    /// Like [`start`](Self::start), but only the Broker, registered with the NameServer at
    /// `namesrv` (e.g. our mini-namesrv). `mqadmin` then talks to that NameServer.
    pub fn start_with_namesrv(
        version: &str,
        namesrv: SocketAddr,
        opts: &ClusterOptions,
    ) -> Result<ApacheCluster, ApacheError> {
        in_scratch(version, &["broker", "tools"], |root, keep| {
            let t0 = Instant::now();
            let java_opts = opts.java_opts(root)?;
            let (broker, broker_addr) = spawn_broker(version, root, namesrv, opts, &java_opts)?;
            Ok(ApacheCluster {
                version: version.into(),
                root: root.to_path_buf(),
                keep,
                namesrv_addr: namesrv,
                broker_addr,
                broker,
                namesrv: None,
                slave: None,
                started_in: t0.elapsed(),
            })
        })
    }

    /// One cluster per `(version, options)` for the whole test process, started on first use
    /// and shared by every test that asks (tests keep to their own topics and groups). Its
    /// JVMs are killed by their wrappers within a second of the test process exiting, and
    /// its directory is removed then.
    pub fn shared(version: &str, opts: &ClusterOptions) -> Result<Arc<ApacheCluster>, ApacheError> {
        type Slot = Arc<Mutex<Option<Arc<ApacheCluster>>>>;
        static SHARED: Mutex<Option<HashMap<String, Slot>>> = Mutex::new(None);
        let slot: Slot = {
            let mut m = SHARED.lock_unpoisoned();
            Arc::clone(
                m.get_or_insert_with(HashMap::new)
                    .entry(format!("{version}|{}", opts.key(version)))
                    .or_default(),
            )
        };
        // Per-key lock: two versions start in parallel, one version starts once.
        let mut s = slot.lock_unpoisoned();
        if let Some(c) = s.as_ref() {
            return Ok(Arc::clone(c));
        }
        let c = Arc::new(ApacheCluster::start(version, opts)?);
        // Never dropped (statics are not): the wrappers clean up when the process exits.
        *s = Some(Arc::clone(&c));
        Ok(c)
    }

    /// The Apache version running.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The NameServer's address (give it to clients).
    pub fn namesrv_addr(&self) -> SocketAddr {
        self.namesrv_addr
    }

    /// The broker's address as it advertises it (`brokerIP1:listenPort`).
    pub fn broker_addr(&self) -> SocketAddr {
        self.broker_addr
    }

    /// The directory holding both servers' configs, stores and logs.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// From provisioning done to both ready lines.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Both servers' console output and log tails (for failure messages).
    pub fn logs(&self) -> String {
        let ns = self
            .namesrv
            .as_ref()
            .map(JavaProc::logs)
            .unwrap_or_default();
        format!("{ns}{}", self.broker.logs())
    }

    /// Runs Apache's `mqadmin` (same version) with `args`; `-n <namesrv>` is appended unless
    /// `args` has `-n`. Returns standard output and error together. `mqadmin` exits 0 even
    /// when its subcommand failed, so check the text.
    pub fn mqadmin(&self, args: &[&str]) -> Result<String, ApacheError> {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        if !args.contains(&"-n") {
            all.push("-n".into());
            all.push(self.namesrv_addr.to_string());
        }
        mqadmin(&self.version, &self.root, &all)
    }

    /// Creates `topic` on the broker with `queues` read and write queues through `mqadmin
    /// updateTopic`, and waits until the NameServer serves its route.
    pub fn create_topic(&self, topic: &str, queues: u32) -> Result<(), ApacheError> {
        let q = queues.to_string();
        let b = self.broker_addr.to_string();
        let out = self.mqadmin(&["updateTopic", "-b", &b, "-t", topic, "-r", &q, "-w", &q])?;
        if !out.contains("create topic to") {
            return Err(ApacheError::Mqadmin {
                args: format!("updateTopic -t {topic}"),
                detail: out,
            });
        }
        // The broker registers the new topic with the NameServer right after creating it
        // (registerIncrementBrokerData); poll the route so consumers find it at once.
        let mut last = String::new();
        let routed =
            eventually_some_blocking(Duration::from_secs(30), "the topic's route", || match self
                .mqadmin(&["topicRoute", "-t", topic])
            {
                Ok(route) if route.contains("brokerAddrs") => Some(Ok(())),
                Ok(route) => {
                    last = route;
                    None
                }
                Err(e) => Some(Err(e)),
            });
        match routed {
            Ok(r) => r,
            Err(_) => Err(ApacheError::Mqadmin {
                args: format!("topicRoute -t {topic}"),
                detail: format!("no route 30 s after updateTopic:\n{last}"),
            }),
        }
    }

    /// The slave's address, when started with [`ClusterOptions::with_slave`].
    pub fn slave_addr(&self) -> Option<SocketAddr> {
        self.slave.as_ref().map(|(_, a)| *a)
    }

    /// SIGKILLs the (master) broker; its store stays in [`dir`](Self::dir).
    pub fn kill_broker(&mut self) {
        self.broker.kill();
    }
}

impl Drop for ApacheCluster {
    fn drop(&mut self) {
        self.broker.kill();
        if let Some((slave, _)) = self.slave.as_mut() {
            slave.kill();
        }
        if let Some(ns) = self.namesrv.as_mut() {
            ns.kill();
        }
        if std::thread::panicking() || self.keep {
            let _ = writeln!(
                std::io::stderr(),
                "Apache {} cluster kept in {}\n{}",
                self.version,
                self.root.display(),
                self.logs()
            );
        } else {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

/// An Apache NameServer alone on 127.0.0.1 (for brokers of another kind, e.g. our
/// mini-broker); killed on drop.
#[derive(Debug)]
pub struct ApacheNamesrv {
    version: String,
    root: PathBuf,
    keep: bool,
    addr: SocketAddr,
    proc: JavaProc,
}

impl ApacheNamesrv {
    /// Provisions `version` and starts its NameServer; waits for the ready line.
    pub fn start(version: &str) -> Result<ApacheNamesrv, ApacheError> {
        in_scratch(version, &["namesrv", "tools"], |root, keep| {
            let (proc, addr) = spawn_namesrv(version, root, "")?;
            Ok(ApacheNamesrv {
                version: version.into(),
                root: root.to_path_buf(),
                keep,
                addr,
                proc,
            })
        })
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs `mqadmin` of the same version against this NameServer (`-n` appended).
    pub fn mqadmin(&self, args: &[&str]) -> Result<String, ApacheError> {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.push("-n".into());
        all.push(self.addr.to_string());
        mqadmin(&self.version, &self.root, &all)
    }
}

impl Drop for ApacheNamesrv {
    fn drop(&mut self) {
        self.proc.kill();
        if std::thread::panicking() || self.keep {
            let _ = writeln!(
                std::io::stderr(),
                "Apache {} NameServer kept in {}\n{}",
                self.version,
                self.root.display(),
                self.proc.logs()
            );
        } else {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

/// Runs Apache's `mqadmin` of `version` with `args` as given, its `user.home` and logs under
/// `dir/tools`. See [`ApacheCluster::mqadmin`].
pub fn mqadmin(version: &str, dir: &Path, args: &[String]) -> Result<String, ApacheError> {
    provision(version, &["tools"])?;
    let tools = dir.join("tools");
    fs::create_dir_all(&tools).map_err(io_err(format!("creating {tools:?}")))?;
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out_path = tools.join(format!("mqadmin-{n}.out"));
    let f = File::create(&out_path).map_err(io_err(format!("creating {out_path:?}")))?;
    let f2 = f.try_clone().map_err(io_err("duplicating a handle"))?;
    let mut cmd = Command::new("bash");
    cmd.arg(scripts_dir().join("apache-rmq.sh"))
        .arg("mqadmin")
        .arg(version)
        .arg(dir)
        .args(args)
        // `consumerStatus` without `-i` writes files under `./<millis>/`.
        .current_dir(&tools)
        .env("RMQ_CP_DIR", classpath_dir())
        .stdin(Stdio::null())
        .stdout(f)
        .stderr(f2);
    let joined = args.join(" ");
    let mut g = ChildGuard::spawn("mqadmin", &mut cmd).map_err(|e| ApacheError::Mqadmin {
        args: joined.clone(),
        detail: e.to_string(),
    })?;
    let status = g
        .wait_timeout(MQADMIN_TIMEOUT)
        .map_err(io_err("waiting for mqadmin"))?;
    let out = fs::read_to_string(&out_path).unwrap_or_default();
    let _ = fs::remove_file(&out_path);
    match status {
        Some(_) => Ok(out),
        None => Err(ApacheError::Mqadmin {
            args: joined,
            detail: format!(
                "still running after {MQADMIN_TIMEOUT:?}:\n{}",
                tail(&out, 30)
            ),
        }),
    }
}
