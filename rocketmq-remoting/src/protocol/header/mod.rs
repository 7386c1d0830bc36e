//! Typed custom headers: each command's `extFields`, as a struct.
//!
//! Every header type implements [`CommandHeader`]. Field names are snake_case in Rust and exactly
//! Java's on the wire (`consumerGroup`, `a`…`n`, `__ZONE_NAME`, …).
//!
//! Decoding is as lenient as Java's `RemotingCommand.decodeCommandCustomHeader`
//! (docs/protocol/frame.md §8; docs/protocol/clients.md):
//!
//! * numbers are decimal text (surrounding blanks tolerated); C++ and ali-ons send JSON numbers,
//!   which the frame codec turns into text before headers see them;
//! * booleans are `true` for a case-insensitive `"true"` and — unlike Java — also for `"1"`, which
//!   the C++ client ≤ 1.2.4 sends for `batch`/`unitMode` (docs/protocol/clients.md); anything else is false;
//! * a missing required field is [`RemotingError::MissingField`] naming its wire key; a required
//!   number that does not parse is [`RemotingError::InvalidField`];
//! * an optional field that does not parse is treated as absent (Java logs it and leaves the field
//!   null); a field with a Java default value takes that default when absent or unparsable;
//! * unknown ext fields (`AccessKey`, `Signature`, `OnsChannel`, …) are ignored.
//!
//! Encoding writes every present field as text, in declaration order.
//!
//! ```
//! use rocketmq_rs_remoting::protocol::header::{CommandHeader, QueryConsumerOffsetRequestHeader};
//! use rocketmq_rs_remoting::ExtFields;
//!
//! let mut ext = ExtFields::new();
//! ext.insert("consumerGroup", "g");
//! ext.insert("topic", "TopicTest");
//! ext.insert("queueId", "3");
//! let h = QueryConsumerOffsetRequestHeader::read_from(&ext).unwrap();
//! assert_eq!(h.queue_id, 3);
//! assert_eq!(h.set_zero_if_not_found, None);
//! ```

use crate::error::{RemotingError, Result};
use crate::protocol::ExtFields;

mod broker;
mod namesrv;
mod pop;

pub use broker::*;
pub use namesrv::*;
pub use pop::*;

/// A typed custom header that converts to and from a command's `extFields`.
///
/// Values are strings on the wire; a missing required field is
/// [`crate::RemotingError::MissingField`] naming it.
pub trait CommandHeader: Sized {
    /// Writes every present field into `ext` (numbers and booleans as decimal/`true`/`false` text).
    fn write_to(&self, ext: &mut ExtFields);
    /// Reads the header from `ext`.
    fn read_from(ext: &ExtFields) -> Result<Self>;

    /// Convenience: the header as a fresh [`ExtFields`].
    ///
    /// ```
    /// use rocketmq_rs_remoting::protocol::header::{CommandHeader, GetRouteInfoRequestHeader};
    /// let ext = GetRouteInfoRequestHeader::new("TopicTest").to_ext_fields();
    /// assert_eq!(ext.get("topic"), Some("TopicTest"));
    /// ```
    fn to_ext_fields(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        self.write_to(&mut ext);
        ext
    }

    /// Like [`CommandHeader::write_to`], but consumes the header so that its strings move into
    /// `ext` instead of being copied (what a broker wants for a response header it has just
    /// built). The default copies; typed headers of this crate move.
    ///
    /// ```
    /// use rocketmq_rs_remoting::protocol::header::{CommandHeader, GetRouteInfoRequestHeader};
    /// use rocketmq_rs_remoting::ExtFields;
    /// let mut ext = ExtFields::new();
    /// GetRouteInfoRequestHeader::new("TopicTest").write_into(&mut ext);
    /// assert_eq!(ext.get("topic"), Some("TopicTest"));
    /// ```
    fn write_into(self, ext: &mut ExtFields) {
        self.write_to(ext);
    }
}

/// Receives the fields of a [`WriteFields`] header one by one, with their wire names.
///
/// Implemented by [`ExtFields`] (the generic path: each field becomes a map entry, as
/// [`CommandHeader::write_to`] would write it) and by the frame codec, which writes each field
/// straight into the frame (see [`codec::encode_frame_with`](crate::protocol::codec::encode_frame_with)).
pub trait FieldSink {
    /// A text field.
    fn str_field(&mut self, key: &'static str, value: &str);
    /// A number, written as its decimal text.
    fn i64_field(&mut self, key: &'static str, value: i64);
    /// A boolean, written as `true` / `false`.
    fn bool_field(&mut self, key: &'static str, value: bool);
}

impl FieldSink for ExtFields {
    fn str_field(&mut self, key: &'static str, value: &str) {
        self.insert_static_str(key, value);
    }
    fn i64_field(&mut self, key: &'static str, value: i64) {
        self.insert_static_i64(key, value);
    }
    fn bool_field(&mut self, key: &'static str, value: bool) {
        self.insert_static(key, if value { "true" } else { "false" });
    }
}

/// A typed header that writes its fields into a [`FieldSink`]: into a frame directly, with no
/// [`ExtFields`] map in between, on the hot paths that use it
/// ([`Connection::invoke_with`](crate::transport::Connection::invoke_with)).
///
/// A header must write each key at most once (the map would keep the last value, the frame
/// both), in the order the map path writes them, so that both paths give the same bytes.
///
/// ```
/// use rocketmq_rs_remoting::protocol::header::{FieldSink, WriteFields};
/// use rocketmq_rs_remoting::ExtFields;
///
/// struct Probe<'a> { topic: &'a str, queue: i32 }
/// impl WriteFields for Probe<'_> {
///     fn write_fields<S: FieldSink + ?Sized>(&self, sink: &mut S) {
///         sink.str_field("topic", self.topic);
///         sink.i64_field("queueId", self.queue.into());
///     }
///     fn size_hint(&self) -> (usize, usize) {
///         (2, self.topic.len() + 11)
///     }
/// }
/// let mut ext = ExtFields::new();
/// Probe { topic: "T", queue: 3 }.write_fields(&mut ext);
/// assert_eq!(ext.get("queueId"), Some("3"));
/// ```
pub trait WriteFields {
    /// Writes every present field into `sink`, in wire order.
    fn write_fields<S: FieldSink + ?Sized>(&self, sink: &mut S);
    /// About how many fields and how many bytes of keys and values [`write_fields`](Self::write_fields)
    /// writes (an estimate for sizing buffers; exactness is not required).
    fn size_hint(&self) -> (usize, usize);
}

/// [`WriteFields`] in a form that can be boxed: a request handler's typed response header,
/// owned by the response until the connection writes its fields straight into the frame
/// ([`Response::with_fields`](crate::transport::Response::with_fields)). Every `WriteFields +
/// Send` type is one; `dyn OwnedFields` is itself a [`WriteFields`].
///
/// ```
/// use rocketmq_rs_remoting::protocol::header::{FieldSink, OwnedFields, WriteFields};
/// use rocketmq_rs_remoting::ExtFields;
///
/// struct Offset(i64);
/// impl WriteFields for Offset {
///     fn write_fields<S: FieldSink + ?Sized>(&self, sink: &mut S) {
///         sink.i64_field("offset", self.0);
///     }
///     fn size_hint(&self) -> (usize, usize) {
///         (1, 26)
///     }
/// }
/// let boxed: Box<dyn OwnedFields> = Box::new(Offset(42));
/// let mut ext = ExtFields::new();
/// boxed.write_fields(&mut ext);
/// assert_eq!(ext.get("offset"), Some("42"));
/// ```
pub trait OwnedFields: Send {
    /// [`WriteFields::write_fields`] through a `dyn` sink.
    fn write_fields_dyn(&self, sink: &mut dyn FieldSink);
    /// [`WriteFields::size_hint`].
    fn size_hint_dyn(&self) -> (usize, usize);
}

impl<T: WriteFields + Send> OwnedFields for T {
    fn write_fields_dyn(&self, sink: &mut dyn FieldSink) {
        self.write_fields(sink);
    }

    fn size_hint_dyn(&self) -> (usize, usize) {
        self.size_hint()
    }
}

/// Forwards to a sink that may itself be unsized, so that it can be passed on as `dyn`.
struct ForwardSink<'a, S: ?Sized>(&'a mut S);

impl<S: FieldSink + ?Sized> FieldSink for ForwardSink<'_, S> {
    #[inline]
    fn str_field(&mut self, key: &'static str, value: &str) {
        self.0.str_field(key, value);
    }
    #[inline]
    fn i64_field(&mut self, key: &'static str, value: i64) {
        self.0.i64_field(key, value);
    }
    #[inline]
    fn bool_field(&mut self, key: &'static str, value: bool) {
        self.0.bool_field(key, value);
    }
}

impl WriteFields for dyn OwnedFields + '_ {
    fn write_fields<S: FieldSink + ?Sized>(&self, sink: &mut S) {
        self.write_fields_dyn(&mut ForwardSink(sink));
    }

    fn size_hint(&self) -> (usize, usize) {
        self.size_hint_dyn()
    }
}

/// A value type that can live in `extFields`: parsed from and written as text.
pub trait HeaderValue: Sized {
    /// Parses the wire text of field `field`; an error is [`RemotingError::InvalidField`].
    fn from_wire(field: &'static str, text: &str) -> Result<Self>;
    /// The wire text.
    fn to_wire(&self) -> String;
    /// The wire text, borrowed from a constant where the value has one (booleans), so that
    /// typed headers write constant values without allocating.
    fn to_wire_cow(&self) -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Owned(self.to_wire())
    }
    /// The wire text, consuming the value (a `String` moves instead of being copied).
    fn into_wire_cow(self) -> std::borrow::Cow<'static, str> {
        self.to_wire_cow()
    }
    /// Writes the value as field `key` of `ext`. Numbers override this to format straight into
    /// the map's shared buffer instead of allocating a `String` each.
    fn write_wire(&self, key: &'static str, ext: &mut ExtFields) {
        ext.insert_static(key, self.to_wire_cow());
    }
    /// [`HeaderValue::write_wire`], consuming the value.
    fn write_wire_owned(self, key: &'static str, ext: &mut ExtFields) {
        ext.insert_static(key, self.into_wire_cow());
    }
    /// At most how many bytes [`HeaderValue::write_wire`] adds to the map's shared text buffer
    /// (see [`ExtFields::reserve`]); 0 for values stored without copying.
    fn wire_len_hint(&self) -> usize {
        0
    }
}

fn invalid(field: &'static str, text: &str) -> RemotingError {
    RemotingError::InvalidField {
        field,
        value: text.to_owned(),
    }
}

impl HeaderValue for String {
    fn from_wire(_field: &'static str, text: &str) -> Result<Self> {
        Ok(text.to_owned())
    }
    fn to_wire(&self) -> String {
        self.clone()
    }
    fn into_wire_cow(self) -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Owned(self)
    }
    // A copy into the map's shared buffer instead of a clone: no allocation per field.
    fn write_wire(&self, key: &'static str, ext: &mut ExtFields) {
        ext.insert_static_str(key, self);
    }
    fn wire_len_hint(&self) -> usize {
        self.len()
    }
}

macro_rules! int_header_value {
    ($($t:ty),*) => {$(
        impl HeaderValue for $t {
            fn from_wire(field: &'static str, text: &str) -> Result<Self> {
                // Java's parseInt/parseLong accept an optional sign and decimal digits only; blanks
                // are tolerated because some clients pad values.
                text.trim().parse::<$t>().map_err(|_| invalid(field, text))
            }
            fn to_wire(&self) -> String {
                self.to_string()
            }
            fn write_wire(&self, key: &'static str, ext: &mut ExtFields) {
                ext.insert_static_i64(key, i64::from(*self));
            }
            fn write_wire_owned(self, key: &'static str, ext: &mut ExtFields) {
                ext.insert_static_i64(key, i64::from(self));
            }
            fn wire_len_hint(&self) -> usize {
                // The longest decimal `i64`, sign included.
                20
            }
        }
    )*};
}
int_header_value!(i32, i64);

impl HeaderValue for bool {
    fn from_wire(_field: &'static str, text: &str) -> Result<Self> {
        Ok(parse_bool(text))
    }
    fn to_wire(&self) -> String {
        self.to_wire_cow().into_owned()
    }
    fn to_wire_cow(&self) -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed(if *self { "true" } else { "false" })
    }
}

/// Parses a header boolean: `true` for a case-insensitive `"true"` (Java's
/// `Boolean.parseBoolean`) or `"1"` (what the C++ client sends, docs/protocol/clients.md); otherwise false.
///
/// ```
/// use rocketmq_rs_remoting::protocol::header::parse_bool;
/// assert!(parse_bool("TRUE") && parse_bool("1"));
/// assert!(!parse_bool("0") && !parse_bool("yes") && !parse_bool(""));
/// ```
pub fn parse_bool(text: &str) -> bool {
    let t = text.trim();
    t.eq_ignore_ascii_case("true") || t == "1"
}

/// [`required`] for a value already looked up (e.g. from one pass over the fields).
///
/// ```
/// use rocketmq_rs_remoting::protocol::header::required_text;
/// assert_eq!(required_text::<i32>(Some("7"), "e").unwrap(), 7);
/// assert!(required_text::<i32>(None, "e").is_err());
/// ```
pub fn required_text<T: HeaderValue>(text: Option<&str>, field: &'static str) -> Result<T> {
    match text {
        Some(v) => T::from_wire(field, v),
        None => Err(RemotingError::MissingField { field }),
    }
}

/// [`optional`] for a value already looked up; an unparsable value counts as absent, as in Java.
///
/// ```
/// use rocketmq_rs_remoting::protocol::header::optional_text;
/// assert_eq!(optional_text::<i32>(Some("3"), "j"), Some(3));
/// assert_eq!(optional_text::<i32>(Some("x"), "j"), None);
/// ```
pub fn optional_text<T: HeaderValue>(text: Option<&str>, field: &'static str) -> Option<T> {
    let v = text?;
    match T::from_wire(field, v) {
        Ok(x) => Some(x),
        Err(_) => {
            tracing::debug!(
                field,
                value = v,
                "ignoring unparsable optional header field"
            );
            None
        }
    }
}

/// Reads a required field.
pub fn required<T: HeaderValue>(ext: &ExtFields, field: &'static str) -> Result<T> {
    required_text(ext.get(field), field)
}

/// Reads an optional field; an unparsable value counts as absent, as in Java.
pub fn optional<T: HeaderValue>(ext: &ExtFields, field: &'static str) -> Option<T> {
    optional_text(ext.get(field), field)
}

/// Reads a field that has a Java default value, using `default` when absent or unparsable.
pub fn or_default<T: HeaderValue>(ext: &ExtFields, field: &'static str, default: T) -> T {
    optional(ext, field).unwrap_or(default)
}

/// Declares a header struct and its [`CommandHeader`] implementation.
///
/// Each field is `name: Type = "wireName", mode;` with mode `required`, `optional` (the type
/// is then `Option<T>`) or `default <expr>` (a Java field with an initial value: always written,
/// the default when absent).
macro_rules! command_header {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty = $wire:literal, $mode:ident $($def:expr)?;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                pub $field: $ty,
            )*
        }

        impl $crate::protocol::header::CommandHeader for $name {
            #[allow(unused_variables)]
            fn write_to(&self, ext: &mut $crate::protocol::ExtFields) {
                // Both buffers of the map sized once for the whole header.
                let fields = 0 $( + command_header!(@one $field) )*;
                let text = 0 $( + command_header!(@hint self, $field, $mode) )*;
                ext.reserve(fields, text);
                $( command_header!(@write self, ext, $field, $wire, $mode); )*
            }

            #[allow(unused_variables)]
            fn write_into(self, ext: &mut $crate::protocol::ExtFields) {
                $( command_header!(@write_owned self, ext, $field, $wire, $mode); )*
            }

            // One pass over the fields, each dispatched by its wire name, instead of one
            // linear lookup per header field.
            #[allow(unused_variables, unused_mut, clippy::single_match, clippy::match_single_binding)]
            fn read_from(ext: &$crate::protocol::ExtFields) -> $crate::error::Result<Self> {
                $( let mut $field: Option<&str> = None; )*
                for (key, value) in ext.iter() {
                    match key {
                        $( $wire => $field = Some(value), )*
                        _ => {}
                    }
                }
                Ok($name {
                    $( $field: command_header!(@read $field, $wire, $mode $($def)?), )*
                })
            }
        }
    };
    (@one $field:ident) => {
        1usize
    };
    (@hint $self:ident, $field:ident, optional) => {
        $self
            .$field
            .as_ref()
            .map_or(0, $crate::protocol::header::HeaderValue::wire_len_hint)
    };
    (@hint $self:ident, $field:ident, $other:ident) => {
        $crate::protocol::header::HeaderValue::wire_len_hint(&$self.$field)
    };
    (@write $self:ident, $ext:ident, $field:ident, $wire:literal, optional) => {
        if let Some(v) = &$self.$field {
            $crate::protocol::header::HeaderValue::write_wire(v, $wire, $ext);
        }
    };
    (@write $self:ident, $ext:ident, $field:ident, $wire:literal, $other:ident) => {
        $crate::protocol::header::HeaderValue::write_wire(&$self.$field, $wire, $ext);
    };
    (@write_owned $self:ident, $ext:ident, $field:ident, $wire:literal, optional) => {
        if let Some(v) = $self.$field {
            $crate::protocol::header::HeaderValue::write_wire_owned(v, $wire, $ext);
        }
    };
    (@write_owned $self:ident, $ext:ident, $field:ident, $wire:literal, $other:ident) => {
        $crate::protocol::header::HeaderValue::write_wire_owned($self.$field, $wire, $ext);
    };
    (@read $text:ident, $wire:literal, required) => {
        $crate::protocol::header::required_text($text, $wire)?
    };
    (@read $text:ident, $wire:literal, optional) => {
        $crate::protocol::header::optional_text($text, $wire)
    };
    (@read $text:ident, $wire:literal, default $def:expr) => {
        $crate::protocol::header::optional_text($text, $wire).unwrap_or($def)
    };
}
pub(crate) use command_header;

/// Declares a Java enum mirror: written by its Java name (in headers and JSON), read from its
/// name (case-insensitive) or its ordinal (declaration order = Java's ordinal).
macro_rules! name_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $java:literal ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $( $(#[$vmeta])* $variant ),* }

        impl $name {
            const ALL: &'static [($name, &'static str)] = &[ $( ($name::$variant, $java) ),* ];

            /// The Java enum name.
            pub fn java_name(self) -> &'static str {
                Self::ALL.iter().find(|e| e.0 == self).map(|e| e.1).unwrap_or("")
            }

            /// Parses a Java enum name (case-insensitive) or its ordinal.
            pub fn parse(text: &str) -> Option<Self> {
                let t = text.trim();
                if let Some(e) = Self::ALL.iter().find(|e| e.1.eq_ignore_ascii_case(t)) {
                    return Some(e.0);
                }
                let i: usize = t.parse().ok()?;
                Self::ALL.get(i).map(|e| e.0)
            }
        }

        impl $crate::protocol::header::HeaderValue for $name {
            fn from_wire(field: &'static str, text: &str) -> $crate::error::Result<Self> {
                Self::parse(text).ok_or_else(|| $crate::error::RemotingError::InvalidField {
                    field,
                    value: text.to_owned(),
                })
            }
            fn to_wire(&self) -> String {
                self.java_name().to_owned()
            }
            fn to_wire_cow(&self) -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(self.java_name())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.java_name())
            }
        }

        // fastjson reads an enum from its name or its ordinal; the C++ client sends ordinals.
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(
                d: D,
            ) -> std::result::Result<Self, D::Error> {
                let v = serde_json::Value::deserialize(d)?;
                let parsed = match &v {
                    serde_json::Value::String(s) => $name::parse(s),
                    serde_json::Value::Number(n) => {
                        n.as_u64().and_then(|i| Self::ALL.get(i as usize)).map(|e| e.0)
                    }
                    _ => None,
                };
                parsed.ok_or_else(|| {
                    serde::de::Error::custom(format!(concat!("invalid ", stringify!($name), " {}"), v))
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.java_name())
            }
        }
    };
}

pub(crate) use name_enum;

name_enum! {
    /// SEARCH_OFFSET_BY_TIMESTAMP `boundaryType` (Java `BoundaryType`; read case-insensitively).
    pub enum BoundaryType {
        /// Smallest offset whose store time is ≥ the timestamp (the default).
        Lower = "LOWER",
        /// Largest offset whose store time is ≤ the timestamp.
        Upper = "UPPER",
    }
}

#[allow(clippy::derivable_impls)] // the enums come from a macro that cannot take #[default]
impl Default for BoundaryType {
    fn default() -> Self {
        BoundaryType::Lower
    }
}

name_enum! {
    /// A topic's `topicFilterType` (Java `TopicFilterType`).
    pub enum TopicFilterType {
        /// One tag per message (the default).
        SingleTag = "SINGLE_TAG",
        /// Several tags per message.
        MultiTag = "MULTI_TAG",
    }
}

#[allow(clippy::derivable_impls)] // the enums come from a macro that cannot take #[default]
impl Default for TopicFilterType {
    fn default() -> Self {
        TopicFilterType::SingleTag
    }
}
