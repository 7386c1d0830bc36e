//! Command-line options of the driver's subcommands, as Rust structs.

use std::time::Duration;

/// Options every subcommand takes.
#[derive(Debug, Clone, PartialEq)]
pub struct CommonOptions {
    /// NameServer address, `host:port` (`;` separates several).
    pub namesrv: String,
    /// Topic.
    pub topic: String,
    /// Producer or consumer group.
    pub group: String,
    /// How long the run may take before the driver gives up (exit code 1).
    pub timeout: Duration,
    /// Extra time allowed for shutdown after `timeout` before the driver exits hard; the Rust
    /// side kills the process 10 s after `timeout + shutdown_grace`.
    pub shutdown_grace: Duration,
    /// Session credentials (ACL): access key.
    pub access_key: Option<String>,
    /// Session credentials (ACL): secret key.
    pub secret_key: Option<String>,
    /// C++ client log level: `fatal`, `error`, `warn`, `info`, `debug` or `trace`.
    pub log_level: Option<String>,
    /// Arguments appended verbatim.
    pub extra_args: Vec<String>,
}

impl CommonOptions {
    /// Defaults: 30 s timeout, 15 s shutdown grace, no credentials.
    pub fn new(
        namesrv: impl Into<String>,
        topic: impl Into<String>,
        group: impl Into<String>,
    ) -> Self {
        CommonOptions {
            namesrv: namesrv.into(),
            topic: topic.into(),
            group: group.into(),
            timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(15),
            access_key: None,
            secret_key: None,
            log_level: None,
            extra_args: Vec::new(),
        }
    }

    fn push_args(&self, args: &mut Vec<String>) {
        push(args, "--namesrv", &self.namesrv);
        push(args, "--topic", &self.topic);
        push(args, "--group", &self.group);
        push(
            args,
            "--timeout",
            &format!("{:.3}", self.timeout.as_secs_f64()),
        );
        push(
            args,
            "--shutdown-grace",
            &format!("{:.3}", self.shutdown_grace.as_secs_f64()),
        );
        push_opt(args, "--access-key", self.access_key.as_deref());
        push_opt(args, "--secret-key", self.secret_key.as_deref());
        push_opt(args, "--log-level", self.log_level.as_deref());
    }

    /// How long after spawning the Rust side kills the driver if it is still running.
    pub(crate) fn kill_after(&self) -> Duration {
        self.timeout + self.shutdown_grace + Duration::from_secs(10)
    }
}

fn push(args: &mut Vec<String>, flag: &str, value: &str) {
    args.push(flag.to_owned());
    args.push(value.to_owned());
}

fn push_opt(args: &mut Vec<String>, flag: &str, value: Option<&str>) {
    if let Some(v) = value {
        push(args, flag, v);
    }
}

fn push_num<T: ToString>(args: &mut Vec<String>, flag: &str, value: Option<T>) {
    if let Some(v) = value {
        push(args, flag, &v.to_string());
    }
}

/// How the producer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SendMode {
    /// `send_sync`: one SEND_MESSAGE, waits for the result.
    #[default]
    Sync,
    /// `send_oneway`: the reply is ignored.
    Oneway,
    /// `send_orderly`: a selector picks queue `sharding_key % queue_count`.
    Orderly,
    /// `send_batch`: `batch_size` messages per SEND_BATCH_MESSAGE.
    Batch,
}

impl SendMode {
    fn as_str(self) -> &'static str {
        match self {
            SendMode::Sync => "sync",
            SendMode::Oneway => "oneway",
            SendMode::Orderly => "orderly",
            SendMode::Batch => "batch",
        }
    }
}

/// `cpp_client.py produce`: send `count` messages with bodies `"{body_prefix}-{index}"`.
///
/// ```
/// use rocketmq_it::cpp::{ProduceOptions, SendMode};
/// let mut o = ProduceOptions::new("127.0.0.1:9876", "TopicA", "PG", 10);
/// o.mode = SendMode::Orderly;
/// o.tag = Some("TagA".into());
/// o.props.push(("color".into(), "red-{i}".into()));
/// let args = o.to_args();
/// assert_eq!(args[0], "produce");
/// assert!(args.windows(2).any(|w| w == ["--mode", "orderly"]));
/// assert!(args.windows(2).any(|w| w == ["--prop", "color=red-{i}"]));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ProduceOptions {
    /// Address, topic, group, timeouts.
    pub common: CommonOptions,
    /// Number of messages.
    pub count: usize,
    /// Send mode.
    pub mode: SendMode,
    /// Tag; `{i}` expands to the message index.
    pub tag: Option<String>,
    /// Keys (space separated); `{i}` expands.
    pub keys: Option<String>,
    /// User properties; `{i}` in values expands.
    pub props: Vec<(String, String)>,
    /// Body prefix (driver default `msg`).
    pub body_prefix: Option<String>,
    /// Pad bodies with `x` to this many bytes (4097+ triggers the C++ client's compression).
    pub body_size: Option<usize>,
    /// Append 64 non-UTF-8 bytes (never NUL) to each body.
    pub binary: bool,
    /// Orderly: sharding key = index % queues.
    pub queues: Option<u32>,
    /// Orderly: one fixed sharding key.
    pub shard_key: Option<i32>,
    /// Batch: messages per batch.
    pub batch_size: Option<usize>,
    /// Delay time level.
    pub delay_level: Option<i32>,
    /// Producer instance name.
    pub instance: Option<String>,
    /// Send timeout (driver default 3000 ms).
    pub send_timeout_ms: Option<u32>,
    /// Compress bodies larger than this (C++ default 4096).
    pub compress_over: Option<usize>,
    /// Pause between sends.
    pub interval_ms: Option<u64>,
    /// Keep going after a failed send.
    pub continue_on_error: bool,
}

impl ProduceOptions {
    /// Sync sends of `count` messages, everything else default.
    pub fn new(
        namesrv: impl Into<String>,
        topic: impl Into<String>,
        group: impl Into<String>,
        count: usize,
    ) -> Self {
        ProduceOptions {
            common: CommonOptions::new(namesrv, topic, group),
            count,
            mode: SendMode::Sync,
            tag: None,
            keys: None,
            props: Vec::new(),
            body_prefix: None,
            body_size: None,
            binary: false,
            queues: None,
            shard_key: None,
            batch_size: None,
            delay_level: None,
            instance: None,
            send_timeout_ms: None,
            compress_over: None,
            interval_ms: None,
            continue_on_error: false,
        }
    }

    /// The driver's command line (after the script path).
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec!["produce".to_owned()];
        self.common.push_args(&mut a);
        push(&mut a, "--count", &self.count.to_string());
        push(&mut a, "--mode", self.mode.as_str());
        push_opt(&mut a, "--tag", self.tag.as_deref());
        push_opt(&mut a, "--keys", self.keys.as_deref());
        for (k, v) in &self.props {
            push(&mut a, "--prop", &format!("{k}={v}"));
        }
        push_opt(&mut a, "--body-prefix", self.body_prefix.as_deref());
        push_num(&mut a, "--body-size", self.body_size);
        if self.binary {
            a.push("--binary".into());
        }
        push_num(&mut a, "--queues", self.queues);
        push_num(&mut a, "--shard-key", self.shard_key);
        push_num(&mut a, "--batch-size", self.batch_size);
        push_num(&mut a, "--delay-level", self.delay_level);
        push_opt(&mut a, "--instance", self.instance.as_deref());
        push_num(&mut a, "--send-timeout-ms", self.send_timeout_ms);
        push_num(&mut a, "--compress-over", self.compress_over);
        push_num(&mut a, "--interval-ms", self.interval_ms);
        if self.continue_on_error {
            a.push("--continue-on-error".into());
        }
        a.extend(self.common.extra_args.iter().cloned());
        a
    }

    /// The body the driver sends for message `index` when `binary` is off (before padding).
    pub fn body_of(&self, index: usize) -> String {
        format!("{}-{index}", self.body_prefix.as_deref().unwrap_or("msg"))
    }
}

/// Message model of the push consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageModel {
    /// Each message goes to one consumer of the group.
    #[default]
    Clustering,
    /// Each message goes to every consumer of the group.
    Broadcasting,
}

/// `cpp_client.py push`: consume until `count` messages were consumed successfully.
///
/// ```
/// use rocketmq_it::cpp::{MessageModel, PushOptions};
/// let mut o = PushOptions::new("127.0.0.1:9876", "TopicA", "CG", 5);
/// o.expr = "TagA || TagB".into();
/// o.model = MessageModel::Broadcasting;
/// let args = o.to_args();
/// assert!(args.windows(2).any(|w| w == ["--expr", "TagA || TagB"]));
/// assert!(args.windows(2).any(|w| w == ["--model", "broadcasting"]));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PushOptions {
    /// Address, topic, group, timeouts.
    pub common: CommonOptions,
    /// Subscription expression (default `*`).
    pub expr: String,
    /// Message model.
    pub model: MessageModel,
    /// Successful consumes to wait for (0: just start, then stop on request or timeout).
    pub count: usize,
    /// Instance name (give each consumer process of one group its own).
    pub instance: Option<String>,
    /// Orderly listener (locks queues with LOCK_BATCH_MQ).
    pub orderly: bool,
    /// Consume threads.
    pub thread_count: Option<u32>,
    /// Messages per consume callback batch.
    pub batch_max_size: Option<u32>,
    /// Answer RECONSUME_LATER while a message's reconsume times is below this.
    pub fail_times: u32,
    /// Keep consuming this long after `count` was reached (to catch extra deliveries).
    pub linger: Option<Duration>,
    /// User property keys to report (the C API cannot list properties).
    pub prop_keys: Vec<String>,
}

impl PushOptions {
    /// Clustering, expression `*`, everything else default.
    pub fn new(
        namesrv: impl Into<String>,
        topic: impl Into<String>,
        group: impl Into<String>,
        count: usize,
    ) -> Self {
        PushOptions {
            common: CommonOptions::new(namesrv, topic, group),
            expr: "*".into(),
            model: MessageModel::Clustering,
            count,
            instance: None,
            orderly: false,
            thread_count: None,
            batch_max_size: None,
            fail_times: 0,
            linger: None,
            prop_keys: Vec::new(),
        }
    }

    /// The driver's command line (after the script path).
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec!["push".to_owned()];
        self.common.push_args(&mut a);
        push(&mut a, "--expr", &self.expr);
        let model = match self.model {
            MessageModel::Clustering => "clustering",
            MessageModel::Broadcasting => "broadcasting",
        };
        push(&mut a, "--model", model);
        push(&mut a, "--count", &self.count.to_string());
        push_opt(&mut a, "--instance", self.instance.as_deref());
        if self.orderly {
            a.push("--orderly".into());
        }
        push_num(&mut a, "--thread-count", self.thread_count);
        push_num(&mut a, "--batch-max-size", self.batch_max_size);
        if self.fail_times > 0 {
            push(&mut a, "--fail-times", &self.fail_times.to_string());
        }
        if let Some(l) = self.linger {
            push(&mut a, "--linger", &format!("{:.3}", l.as_secs_f64()));
        }
        for k in &self.prop_keys {
            push(&mut a, "--prop-key", k);
        }
        a.extend(self.common.extra_args.iter().cloned());
        a
    }

    pub(crate) fn kill_after(&self) -> Duration {
        self.common.kill_after() + self.linger.unwrap_or_default()
    }
}

/// `cpp_client.py pull`: pull every queue from `from_offset` until `count` messages arrived.
///
/// ```
/// use rocketmq_it::cpp::PullOptions;
/// let o = PullOptions::new("127.0.0.1:9876", "TopicA", "CG", 3);
/// assert_eq!(o.to_args()[0], "pull");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PullOptions {
    /// Address, topic, group, timeouts.
    pub common: CommonOptions,
    /// Subscription expression (default `*`).
    pub expr: String,
    /// Messages to wait for (0: fetch the queues, pull each once, stop).
    pub count: usize,
    /// Messages per pull (driver default 32).
    pub max_num: Option<u32>,
    /// Start offset of every queue (default 0).
    pub from_offset: Option<u64>,
    /// Retry (instead of failing) when fetching the queues fails.
    pub retry_fetch: bool,
    /// User property keys to report.
    pub prop_keys: Vec<String>,
}

impl PullOptions {
    /// Expression `*`, everything else default.
    pub fn new(
        namesrv: impl Into<String>,
        topic: impl Into<String>,
        group: impl Into<String>,
        count: usize,
    ) -> Self {
        PullOptions {
            common: CommonOptions::new(namesrv, topic, group),
            expr: "*".into(),
            count,
            max_num: None,
            from_offset: None,
            retry_fetch: false,
            prop_keys: Vec::new(),
        }
    }

    /// The driver's command line (after the script path).
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec!["pull".to_owned()];
        self.common.push_args(&mut a);
        push(&mut a, "--expr", &self.expr);
        push(&mut a, "--count", &self.count.to_string());
        push_num(&mut a, "--max-num", self.max_num);
        push_num(&mut a, "--from-offset", self.from_offset);
        if self.retry_fetch {
            a.push("--retry-fetch".into());
        }
        for k in &self.prop_keys {
            push(&mut a, "--prop-key", k);
        }
        a.extend(self.common.extra_args.iter().cloned());
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(args: &[String], flag: &str, value: &str) -> bool {
        args.windows(2).any(|w| w[0] == flag && w[1] == value)
    }

    #[test]
    fn produce_args_carry_every_set_option() {
        let mut o = ProduceOptions::new("127.0.0.1:1", "T", "G", 7);
        o.mode = SendMode::Batch;
        o.batch_size = Some(3);
        o.keys = Some("k{i}".into());
        o.body_size = Some(5000);
        o.binary = true;
        o.common.timeout = Duration::from_millis(2500);
        o.common.access_key = Some("ak".into());
        o.common.extra_args = vec!["--log-level".into(), "debug".into()];
        let a = o.to_args();
        assert_eq!(a[0], "produce");
        for (f, v) in [
            ("--namesrv", "127.0.0.1:1"),
            ("--topic", "T"),
            ("--group", "G"),
            ("--count", "7"),
            ("--mode", "batch"),
            ("--batch-size", "3"),
            ("--keys", "k{i}"),
            ("--body-size", "5000"),
            ("--timeout", "2.500"),
            ("--access-key", "ak"),
            ("--log-level", "debug"),
        ] {
            assert!(has(&a, f, v), "{f} {v} missing in {a:?}");
        }
        assert!(a.contains(&"--binary".to_owned()));
        assert!(!a.contains(&"--tag".to_owned()));
        assert_eq!(o.body_of(3), "msg-3");
    }

    #[test]
    fn push_and_pull_args() {
        let mut p = PushOptions::new("a:1", "T", "CG", 2);
        p.fail_times = 1;
        p.orderly = true;
        p.linger = Some(Duration::from_secs(1));
        p.prop_keys = vec!["color".into()];
        let a = p.to_args();
        assert!(
            has(&a, "--fail-times", "1")
                && has(&a, "--linger", "1.000")
                && has(&a, "--prop-key", "color")
        );
        assert!(has(&a, "--model", "clustering") && a.contains(&"--orderly".to_owned()));
        assert_eq!(p.kill_after(), Duration::from_secs(30 + 15 + 10 + 1));

        let mut q = PullOptions::new("a:1", "T", "CG", 2);
        q.from_offset = Some(4);
        q.retry_fetch = true;
        let a = q.to_args();
        assert!(
            has(&a, "--from-offset", "4")
                && has(&a, "--expr", "*")
                && a.contains(&"--retry-fetch".to_owned())
        );
    }
}
