//! Subscription expressions: tag expressions (parsed here, re-checked client-side) and SQL92
//! expressions (passed through to the broker).

use std::collections::BTreeSet;

use rocketmq_rs_remoting::protocol::body::SubscriptionData;
use rocketmq_rs_remoting::protocol::message::MessageExt;

use crate::util::java_string_hash;

/// The language of a subscription expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpressionType {
    /// `*` or `TagA || TagB`.
    Tag,
    /// An SQL92 property filter evaluated by the broker (needs `enablePropertyFilter=true`).
    Sql92,
}

impl ExpressionType {
    /// The wire name (`TAG` / `SQL92`).
    pub fn as_str(self) -> &'static str {
        match self {
            ExpressionType::Tag => "TAG",
            ExpressionType::Sql92 => "SQL92",
        }
    }
}

/// Which messages of a topic to receive (Java `MessageSelector` / a subscription string).
///
/// Anything convertible to a string is a tag expression:
///
/// ```
/// use rocketmq_rs_client::consumer::MessageSelector;
/// let s: MessageSelector = "TagA || TagB".into();
/// assert_eq!(s, MessageSelector::tag("TagA || TagB"));
/// assert!(s.matches_tag(Some("TagB")));
/// assert!(!s.matches_tag(Some("TagC")));
/// assert!(!s.matches_tag(None), "untagged messages only match `*`");
/// assert!(MessageSelector::all().matches_tag(None));
/// let sql = MessageSelector::sql92("a > 5");
/// assert!(sql.matches_tag(Some("anything")), "SQL92 filtering is the broker's job");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageSelector {
    kind: ExpressionType,
    expression: String,
    /// Parsed tags; empty means "all" (tag expressions only).
    tags: BTreeSet<String>,
}

impl MessageSelector {
    /// Every message of the topic (`*`).
    pub fn all() -> Self {
        Self::tag("*")
    }

    /// A tag expression: `*`, `""` (= `*`) or tags separated by `||`.
    pub fn tag(expression: impl Into<String>) -> Self {
        let expression = expression.into();
        let trimmed = expression.trim();
        let tags: BTreeSet<String> = if trimmed.is_empty() || trimmed == "*" {
            BTreeSet::new()
        } else {
            trimmed
                .split("||")
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let expression = if tags.is_empty() {
            "*".to_owned()
        } else {
            expression
        };
        MessageSelector {
            kind: ExpressionType::Tag,
            expression,
            tags,
        }
    }

    /// An SQL92 property filter, passed to the broker unchanged.
    pub fn sql92(expression: impl Into<String>) -> Self {
        MessageSelector {
            kind: ExpressionType::Sql92,
            expression: expression.into(),
            tags: BTreeSet::new(),
        }
    }

    /// The expression language.
    pub fn expression_type(&self) -> ExpressionType {
        self.kind
    }

    /// The expression text (`*` for "all").
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// Whether this selects every message (`*`).
    pub fn is_all(&self) -> bool {
        self.kind == ExpressionType::Tag && self.tags.is_empty()
    }

    /// The client-side tag re-check after the broker's hash filter (Java
    /// `PullAPIWrapper.processPullResult`): with tags, only messages whose tag is exactly one of
    /// them pass (removing hash collisions and untagged messages).
    pub fn matches_tag(&self, tag: Option<&str>) -> bool {
        if self.kind != ExpressionType::Tag || self.tags.is_empty() {
            return true;
        }
        tag.is_some_and(|t| self.tags.contains(t))
    }

    /// [`matches_tag`](Self::matches_tag) applied to a message's `TAGS` property.
    pub fn matches(&self, msg: &MessageExt) -> bool {
        self.matches_tag(msg.tags())
    }

    /// The heartbeat form (Java `SubscriptionData`) for `topic`, with version `sub_version`.
    pub fn to_subscription_data(&self, topic: &str, sub_version: i64) -> SubscriptionData {
        SubscriptionData {
            class_filter_mode: false,
            topic: topic.to_owned(),
            sub_string: self.expression.clone(),
            code_set: self.tags.iter().map(|t| java_string_hash(t)).collect(),
            tags_set: self.tags.clone(),
            sub_version,
            expression_type: self.kind.as_str().to_owned(),
        }
    }
}

impl From<&str> for MessageSelector {
    fn from(s: &str) -> Self {
        MessageSelector::tag(s)
    }
}

impl From<String> for MessageSelector {
    fn from(s: String) -> Self {
        MessageSelector::tag(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_data_matches_java() {
        let s = MessageSelector::tag("TagA || TagB ||  ");
        let d = s.to_subscription_data("T", 7);
        assert_eq!(d.sub_string, "TagA || TagB ||  ");
        assert_eq!(d.tags_set.iter().collect::<Vec<_>>(), ["TagA", "TagB"]);
        assert_eq!(
            d.code_set.iter().copied().collect::<Vec<_>>(),
            [2598919, 2598920]
        );
        assert_eq!(d.expression_type, "TAG");
        let all = MessageSelector::tag("  ").to_subscription_data("T", 1);
        assert_eq!(all.sub_string, "*");
        assert!(all.tags_set.is_empty() && all.code_set.is_empty());
        let sql = MessageSelector::sql92("a > 1").to_subscription_data("T", 1);
        assert_eq!(sql.expression_type, "SQL92");
        assert_eq!(sql.sub_string, "a > 1");
    }
}
