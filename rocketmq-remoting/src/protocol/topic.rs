//! Topic and group names: the legal character set and lengths (Java `TopicValidator`,
//! client `Validators`) and the retry/dead-letter topic naming (Java `MixAll`).
//!
//! Clients, the broker and its store all check names here so that a name one side accepts is
//! never refused by the other, and the store can use a valid topic as a directory name: the
//! character set excludes `/`, `\`, `.` and everything else a path could be built from.

use thiserror::Error;

/// Prefix of a consumer group's retry topic (`MixAll.RETRY_GROUP_TOPIC_PREFIX`).
pub const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";
/// Prefix of a consumer group's dead-letter topic (`MixAll.DLQ_GROUP_TOPIC_PREFIX`).
pub const DLQ_GROUP_TOPIC_PREFIX: &str = "%DLQ%";
/// Longest ordinary topic name (`TopicValidator.TOPIC_MAX_LENGTH`).
pub const TOPIC_MAX_LENGTH: usize = 127;
/// Longest retry or dead-letter topic name: 5.x brokers allow these to outgrow
/// [`TOPIC_MAX_LENGTH`] because they embed a group name.
pub const RETRY_DLQ_TOPIC_MAX_LENGTH: usize = 255;
/// Longest group name (`Validators.CHARACTER_MAX_LENGTH`).
pub const GROUP_MAX_LENGTH: usize = 255;

/// Why a topic or group name is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    /// Empty or only white space.
    #[error("the {0} is blank")]
    Blank(&'static str),
    /// Longer than allowed.
    #[error("the {what} is {len} characters long; at most {max} are allowed")]
    TooLong {
        /// `"topic"` or `"group"`.
        what: &'static str,
        /// The name's length in bytes (all legal characters are ASCII).
        len: usize,
        /// The limit that applies to this name.
        max: usize,
    },
    /// Holds a character outside `[%|a-zA-Z0-9_-]`.
    #[error(
        "the {what} {name:?} contains {found:?}; only letters, digits and % | _ - are allowed"
    )]
    IllegalChar {
        /// `"topic"` or `"group"`.
        what: &'static str,
        /// The refused name.
        name: String,
        /// The first illegal character.
        found: char,
    },
}

/// Whether `c` may appear in a topic or group name (`^[%|a-zA-Z0-9_-]+$`).
pub fn is_legal_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '%' | '|' | '_' | '-')
}

fn check(name: &str, what: &'static str, max: usize) -> Result<(), NameError> {
    // The broker checks the topic of every message it stores: a name of legal characters only
    // (the usual case) is decided by one byte test each, and cannot be blank.
    if !name.is_empty() && name.bytes().all(|b| is_legal_name_char(char::from(b))) {
        return if name.len() > max {
            Err(NameError::TooLong {
                what,
                len: name.len(),
                max,
            })
        } else {
            Ok(())
        };
    }
    if name.trim().is_empty() {
        return Err(NameError::Blank(what));
    }
    if let Some(found) = name.chars().find(|&c| !is_legal_name_char(c)) {
        return Err(NameError::IllegalChar {
            what,
            name: name.to_owned(),
            found,
        });
    }
    if name.len() > max {
        return Err(NameError::TooLong {
            what,
            len: name.len(),
            max,
        });
    }
    Ok(())
}

/// Checks a topic name: non-blank, only `[%|a-zA-Z0-9_-]`, at most [`TOPIC_MAX_LENGTH`]
/// characters ([`RETRY_DLQ_TOPIC_MAX_LENGTH`] for retry and dead-letter topics).
///
/// # Errors
///
/// [`NameError`] saying what is wrong.
///
/// ```
/// use rocketmq_rs_remoting::protocol::topic::validate_topic;
/// assert!(validate_topic("Topic_Test-1").is_ok());
/// assert!(validate_topic("bad topic").is_err());
/// assert!(validate_topic("../etc").is_err());
/// assert!(validate_topic(&"x".repeat(128)).is_err());
/// assert!(validate_topic(&format!("%RETRY%{}", "g".repeat(200))).is_ok());
/// ```
pub fn validate_topic(topic: &str) -> Result<(), NameError> {
    let max = if is_retry_topic(topic) || is_dlq_topic(topic) {
        RETRY_DLQ_TOPIC_MAX_LENGTH
    } else {
        TOPIC_MAX_LENGTH
    };
    check(topic, "topic", max)
}

/// Whether [`validate_topic`] accepts `topic`.
pub fn is_valid_topic(topic: &str) -> bool {
    validate_topic(topic).is_ok()
}

/// Checks a group name: non-blank, only `[%|a-zA-Z0-9_-]`, at most [`GROUP_MAX_LENGTH`]
/// characters (Java `Validators.checkGroup`).
///
/// # Errors
///
/// [`NameError`] saying what is wrong.
///
/// ```
/// use rocketmq_rs_remoting::protocol::topic::validate_group;
/// assert!(validate_group("please_rename_unique_group_name").is_ok());
/// assert!(validate_group(" ").is_err());
/// assert!(validate_group(&"g".repeat(256)).is_err());
/// ```
pub fn validate_group(group: &str) -> Result<(), NameError> {
    check(group, "group", GROUP_MAX_LENGTH)
}

/// The retry topic of a consumer group: `%RETRY%<group>`.
///
/// ```
/// assert_eq!(rocketmq_rs_remoting::protocol::topic::retry_topic("cg"), "%RETRY%cg");
/// ```
pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_GROUP_TOPIC_PREFIX}{group}")
}

/// The dead-letter topic of a consumer group: `%DLQ%<group>`.
///
/// ```
/// assert_eq!(rocketmq_rs_remoting::protocol::topic::dlq_topic("cg"), "%DLQ%cg");
/// ```
pub fn dlq_topic(group: &str) -> String {
    format!("{DLQ_GROUP_TOPIC_PREFIX}{group}")
}

/// Whether `topic` is a retry topic (starts with `%RETRY%`).
pub fn is_retry_topic(topic: &str) -> bool {
    topic.starts_with(RETRY_GROUP_TOPIC_PREFIX)
}

/// Whether `topic` is a dead-letter topic (starts with `%DLQ%`).
pub fn is_dlq_topic(topic: &str) -> bool {
    topic.starts_with(DLQ_GROUP_TOPIC_PREFIX)
}

/// The group a retry topic belongs to (`%RETRY%g` → `g`), or `None` for any other topic.
pub fn retry_topic_group(topic: &str) -> Option<&str> {
    topic.strip_prefix(RETRY_GROUP_TOPIC_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_limits() {
        assert!(validate_topic(&"t".repeat(127)).is_ok());
        assert_eq!(
            validate_topic(&"t".repeat(128)),
            Err(NameError::TooLong {
                what: "topic",
                len: 128,
                max: 127
            })
        );
        let dlq = format!("%DLQ%{}", "g".repeat(250));
        assert!(validate_topic(&dlq).is_ok());
        assert!(validate_topic(&format!("{dlq}g")).is_err());
        assert_eq!(validate_topic(""), Err(NameError::Blank("topic")));
        assert_eq!(validate_topic("  "), Err(NameError::Blank("topic")));
    }

    #[test]
    fn path_characters_are_refused() {
        for bad in ["a/b", "a\\b", ".", "..", "a.b", "a b", "é", "a\0b", "a:b"] {
            assert!(!is_valid_topic(bad), "{bad:?}");
            assert!(validate_group(bad).is_err(), "{bad:?}");
        }
        assert!(is_valid_topic("%|aZ09_-"));
    }

    #[test]
    fn retry_and_dlq_names() {
        assert_eq!(retry_topic("g"), "%RETRY%g");
        assert_eq!(dlq_topic("g"), "%DLQ%g");
        assert!(is_retry_topic("%RETRY%g") && !is_retry_topic("%DLQ%g"));
        assert!(is_dlq_topic("%DLQ%g") && !is_dlq_topic("g"));
        assert_eq!(retry_topic_group("%RETRY%g"), Some("g"));
        assert_eq!(retry_topic_group("g"), None);
    }
}
