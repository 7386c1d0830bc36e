//! Message filtering at pull time (docs/protocol/pull.md §4, §5): tag hash codes from the
//! consume queue, and SQL92 expressions over a message's properties
//! ([`sql92::Sql92Filter`]).

pub mod sql92;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rocketmq_rs_remoting::util::MutexExt;

pub use sql92::{CompileError, Sql92Filter};

/// The expression type of SQL92 subscriptions (case-sensitive, as Apache compares it).
pub const SQL92: &str = "SQL92";

/// Whether `expression_type` means tag filtering: absent, empty or exactly `TAG` (Apache's
/// `ExpressionType.isTagType`).
pub fn is_tag_type(expression_type: Option<&str>) -> bool {
    matches!(expression_type, None | Some("") | Some("TAG"))
}

/// The properties of a stored message as Apache's broker decodes them for filtering: pairs
/// `name\x01value\x02`, a later duplicate replacing an earlier one, pairs with an empty name
/// or value ignored, bytes decoded as UTF-8 with replacement characters.
#[derive(Debug, Default)]
pub struct MessageProperties<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> MessageProperties<'a> {
    /// Decodes a properties section.
    ///
    /// ```
    /// use rocketmq_rs_mini_broker::filter::MessageProperties;
    /// use rocketmq_rs_mini_broker::filter::sql92::Properties;
    /// let p = MessageProperties::decode(b"TAGS\x01A\x02a\x01\x02TAGS\x01B\x02");
    /// assert_eq!(p.property("TAGS"), Some("B"));
    /// assert_eq!(p.property("a"), None, "an empty value is no value");
    /// ```
    pub fn decode(raw: &'a [u8]) -> Self {
        let pairs = raw
            .split(|b| *b == 2)
            .filter_map(|pair| {
                let sep = pair.iter().position(|b| *b == 1)?;
                let (k, v) = (&pair[..sep], &pair[sep + 1..]);
                (!k.is_empty() && !v.is_empty())
                    .then(|| (String::from_utf8_lossy(k), String::from_utf8_lossy(v)))
            })
            .collect();
        MessageProperties { pairs }
    }
}

impl sql92::Properties for MessageProperties<'_> {
    fn property(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }
}

/// What a pull (or a held pull) delivers.
#[derive(Debug, Clone)]
pub enum MessageFilter {
    /// Everything: `*`, or (as in Apache) a non-tag subscription without a usable
    /// expression, which only a pull carrying its own subscription can ask for.
    All,
    /// Messages whose consume-queue tag code is one of these (a tag expression).
    Tags(Arc<[i32]>),
    /// Messages whose properties make this expression TRUE.
    Sql(Arc<Sql92Filter>),
}

impl MessageFilter {
    /// The consume-queue stage: tag codes only (SQL needs the message itself).
    pub fn matches_tag_code(&self, tag_code: i64) -> bool {
        match self {
            MessageFilter::Tags(codes) => codes.contains(&(tag_code as i32)),
            _ => true,
        }
    }

    /// Whether the filter needs each message's properties.
    pub fn needs_properties(&self) -> bool {
        matches!(self, MessageFilter::Sql(_))
    }

    /// The commit-log stage: a message's raw properties section.
    pub fn matches_properties(&self, raw: &[u8]) -> bool {
        match self {
            MessageFilter::Sql(f) => f.matches(&MessageProperties::decode(raw)),
            _ => true,
        }
    }

    /// Both stages, for a message that just arrived (its tag code computed from its `TAGS`
    /// property as the consume queue does).
    pub fn matches_arrived(&self, raw_properties: &[u8]) -> bool {
        match self {
            MessageFilter::All => true,
            MessageFilter::Tags(_) => {
                let tag = crate::store::record_property(raw_properties, "TAGS");
                self.matches_tag_code(tag.map(crate::store::tag_hash_code).unwrap_or(0))
            }
            MessageFilter::Sql(_) => self.matches_properties(raw_properties),
        }
    }
}

/// Compiled expressions by text (Apache keeps a cache of 100 in its parser); failures are
/// cached too, so a bad expression in every pull costs one compilation.
#[derive(Debug, Default)]
pub struct FilterCache {
    compiled: Mutex<HashMap<String, Result<Arc<Sql92Filter>, CompileError>>>,
}

/// Beyond this many distinct expressions the cache starts over.
const CACHE_LIMIT: usize = 256;

impl FilterCache {
    /// The compiled form of `sql`.
    pub fn compile(&self, sql: &str) -> Result<Arc<Sql92Filter>, CompileError> {
        if let Some(r) = self.compiled.lock_unpoisoned().get(sql) {
            return r.clone();
        }
        let r = Sql92Filter::compile(sql).map(Arc::new);
        let mut m = self.compiled.lock_unpoisoned();
        if m.len() >= CACHE_LIMIT {
            m.clear();
        }
        m.insert(sql.to_string(), r.clone());
        r
    }
}
