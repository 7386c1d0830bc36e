//! Output helpers: aligned text tables and the JSON form of a message.

use std::fmt::Write as _;

use base64::Engine as _;
use rocketmq_rs_client::MessageExt;
use rocketmq_rs_remoting::protocol::message::property;
use serde_json::{json, Map, Value};

/// A text table with a header row; columns are padded to their widest cell.
///
/// ```
/// let mut t = rocketmq_rs_cli::output::Table::new(["QUEUE", "OFFSET"]);
/// t.row(["0", "42"]);
/// assert_eq!(t.render(), "QUEUE  OFFSET\n0      42\n");
/// ```
#[derive(Debug, Clone)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new<I, S>(header: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: ToString,
    {
        Table {
            rows: vec![header.into_iter().map(|s| s.to_string()).collect()],
        }
    }

    /// Appends a row.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: ToString,
    {
        self.rows
            .push(cells.into_iter().map(|s| s.to_string()).collect());
    }

    /// The table as text, one line per row.
    pub fn render(&self) -> String {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; cols];
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let mut out = String::new();
        for r in &self.rows {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate() {
                if i + 1 == r.len() {
                    line.push_str(c);
                } else {
                    let _ = write!(line, "{c:<w$}  ", w = widths[i]);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// The message id users know: the client id (`UNIQ_KEY`) when present, else the broker's
/// offset id (as Java's `MessageClientExt.getMsgId`).
pub fn user_msg_id(m: &MessageExt) -> &str {
    m.property(property::UNIQ_KEY).unwrap_or(&m.msg_id)
}

/// One message as the JSON object printed by `consume` and the `consumer` example: topic,
/// queueId, queueOffset, msgId, offsetMsgId, tags, keys, properties, reconsumeTimes,
/// bornTimestamp, storeTimestamp, and `body` (UTF-8) or `bodyBase64`.
pub fn message_json(m: &MessageExt) -> Value {
    let props: Map<String, Value> = m
        .properties
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    let mut v = json!({
        "topic": m.topic,
        "queueId": m.queue_id,
        "queueOffset": m.queue_offset,
        "msgId": user_msg_id(m),
        "offsetMsgId": m.msg_id,
        "tags": m.property(property::TAGS),
        "keys": m.property(property::KEYS),
        "properties": props,
        "reconsumeTimes": m.reconsume_times,
        "bornTimestamp": m.born_timestamp,
        "storeTimestamp": m.store_timestamp,
    });
    match std::str::from_utf8(&m.body) {
        Ok(s) => v["body"] = Value::String(s.to_string()),
        Err(_) => {
            v["bodyBase64"] =
                Value::String(base64::engine::general_purpose::STANDARD.encode(&m.body))
        }
    }
    v
}

/// Formats a millisecond epoch timestamp as `YYYY-MM-DD HH:MM:SS.mmm` (UTC).
///
/// ```
/// assert_eq!(rocketmq_rs_cli::output::format_ms(0), "1970-01-01 00:00:00.000");
/// assert_eq!(rocketmq_rs_cli::output::format_ms(1_700_000_000_123), "2023-11-14 22:13:20.123");
/// ```
pub fn format_ms(ms: i64) -> String {
    if ms < 0 {
        return "-".into();
    }
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_body_is_base64() {
        let mut m = MessageExt::new("T", vec![0xff, 0x00, 0x01]);
        m.put_property("TAGS", "a");
        let v = message_json(&m);
        assert_eq!(v["bodyBase64"], "/wAB");
        assert!(v.get("body").is_none());
        assert_eq!(v["tags"], "a");
        let m = MessageExt::new("T", "héllo");
        assert_eq!(message_json(&m)["body"], "héllo");
    }
}
