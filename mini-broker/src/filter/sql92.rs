//! SQL92 property filters (`MessageSelector.bySql`), with the grammar, types and error texts of
//! Apache RocketMQ's broker (docs/protocol/pull.md §5).
//!
//! Everything here follows what Apache's filter module does, checked row by row against it
//! (`sql92_table.tsv`, written by `interop/java/SqlFilterTable.java`), including its oddities:
//! text after a complete expression is ignored, `NOT` binds tighter than `=`, `a = b` is TRUE
//! when both are missing, a float literal equal to zero is refused, a failed number conversion
//! aborts the whole evaluation (so `x = 1 OR y = 1` is no match when `x` is `abc`).
//!
//! ```
//! use rocketmq_rs_mini_broker::filter::sql92::Sql92Filter;
//! let f = Sql92Filter::compile("TAGS = 'TagA' AND price > 10").unwrap();
//! assert!(f.matches(&[("TAGS", "TagA"), ("price", "12")][..]));
//! assert!(!f.matches(&[("TAGS", "TagA"), ("price", "cheap")][..]));
//! assert!(Sql92Filter::compile("price >").is_err());
//! ```

use std::cmp::Ordering;
use std::fmt;

/// A property lookup: the message's value of a property, or `None` when it has none.
pub trait Properties {
    /// The value of property `name`.
    fn property(&self, name: &str) -> Option<&str>;
}

impl<K: AsRef<str>, V: AsRef<str>> Properties for [(K, V)] {
    fn property(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| v.as_ref())
    }
}

impl<S: std::hash::BuildHasher> Properties for std::collections::HashMap<String, String, S> {
    fn property(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// An expression that did not compile. `Display` is the text Apache's broker puts in the
/// remark of a `CHECK_CLIENT_CONFIG` answer (the Java exception's `toString()`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    message: String,
}

impl CompileError {
    fn new(class: &str, message: impl fmt::Display) -> Self {
        CompileError {
            message: format!("{class}: {message}"),
        }
    }

    fn runtime(message: impl fmt::Display) -> Self {
        Self::new("java.lang.RuntimeException", message)
    }

    /// The message, as Apache's broker words it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Evaluation stopped by a value that cannot be converted (Apache's broker then treats the
/// message as not matching, whatever the rest of the expression says).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// A string that is not a number compared with a number (Java `NumberFormatException`).
    #[error("cannot convert {0:?} to a number")]
    Number(String),
    /// A boolean on the left of `=` with a string on the right (Java `ClassCastException`).
    #[error("a boolean cannot be compared with a string")]
    BooleanWithString,
}

/// A compiled SQL92 filter.
#[derive(Debug, Clone)]
pub struct Sql92Filter {
    root: Expr,
}

impl Sql92Filter {
    /// Compiles `sql` as Apache's broker does.
    pub fn compile(sql: &str) -> Result<Self, CompileError> {
        let mut p = Parser::new(sql);
        let e = p.or_expr()?;
        Ok(Sql92Filter {
            root: as_boolean(e)?,
        })
    }

    /// The raw three-valued result: `Ok(None)` is SQL's UNKNOWN (a missing property).
    pub fn evaluate<P: Properties + ?Sized>(&self, props: &P) -> Result<Option<bool>, EvalError> {
        Ok(match self.root.eval(props)? {
            Value::Bool(b) => Some(b),
            _ => None,
        })
    }

    /// Whether a message with these properties is delivered: only a TRUE result matches.
    pub fn matches<P: Properties + ?Sized>(&self, props: &P) -> bool {
        matches!(self.evaluate(props), Ok(Some(true)))
    }
}

// ---------------------------------------------------------------------------------------------
// values

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    Str(String),
}

impl Value {
    /// Java `String.valueOf` of the boxed value.
    fn java_string(&self) -> String {
        match self {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Long(l) => l.to_string(),
            Value::Double(d) => java_double_string(*d),
            Value::Str(s) => s.clone(),
        }
    }
}

/// Java `Double.compare`: -0.0 below 0.0, NaN above everything and equal to itself.
fn double_cmp(a: f64, b: f64) -> Ordering {
    if a < b {
        Ordering::Less
    } else if a > b {
        Ordering::Greater
    } else {
        let bits = |x: f64| {
            if x.is_nan() {
                0x7ff8_0000_0000_0000i64
            } else {
                x.to_bits() as i64
            }
        };
        bits(a).cmp(&bits(b))
    }
}

/// Java `String.compareTo` (UTF-16 code units).
fn java_str_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// What a conversion failure is at compile time and at evaluation time.
enum ConvError {
    Number(String),
    BooleanWithString,
}

impl ConvError {
    fn into_eval(self) -> EvalError {
        match self {
            ConvError::Number(s) => EvalError::Number(s),
            ConvError::BooleanWithString => EvalError::BooleanWithString,
        }
    }

    /// The exception Apache's parser reports when a `BETWEEN` bound check fails this way.
    fn into_compile(self) -> CompileError {
        match self {
            ConvError::Number(m) => CompileError::runtime(format!(
                "java.lang.NumberFormatException: {}",
                number_format_message(&m)
            )),
            ConvError::BooleanWithString => CompileError::new(
                "java.lang.ClassCastException",
                "class java.lang.Boolean cannot be cast to class java.lang.String \
                 (java.lang.Boolean and java.lang.String are in module java.base of loader \
                 'bootstrap')",
            ),
        }
    }
}

/// `NumberFormatException` text for an unparsable input (Java: "empty String" only from
/// `Double.valueOf` of a blank string; we keep the integer form, which is what the parser's
/// checks can reach).
fn number_format_message(input: &str) -> String {
    format!("For input string: \"{input}\"")
}

/// Apache's `ComparisonExpression.__compare` with string conversion on: the sign of
/// `l.compareTo(r)` after converting the right (or left) side to the other's type; `-1` for
/// pairs it does not convert.
fn compare(l: &Value, r: &Value) -> Result<Ordering, ConvError> {
    use Value::*;
    let num = |s: &str| ConvError::Number(s.to_string());
    Ok(match (l, r) {
        (Bool(a), Bool(b)) => a.cmp(b),
        (Int(a), Int(b)) => a.cmp(b),
        (Long(a), Long(b)) => a.cmp(b),
        (Double(a), Double(b)) => double_cmp(*a, *b),
        (Str(a), Str(b)) => java_str_cmp(a, b),
        (Bool(_), Str(_)) => return Err(ConvError::BooleanWithString),
        (Int(a), Long(b)) => (*a as i64).cmp(b),
        (Int(a), Double(b)) => double_cmp(*a as f64, *b),
        (Int(a), Str(b)) => a.cmp(&java_parse_int(b).ok_or_else(|| num(b))?),
        (Long(a), Int(b)) => a.cmp(&(*b as i64)),
        (Long(a), Double(b)) => double_cmp(*a as f64, *b),
        (Long(a), Str(b)) => a.cmp(&java_parse_long(b).ok_or_else(|| num(b))?),
        (Double(a), Int(b)) => double_cmp(*a, *b as f64),
        (Double(a), Long(b)) => double_cmp(*a, *b as f64),
        (Double(a), Str(b)) => double_cmp(*a, java_parse_double(b).ok_or_else(|| num(b))?),
        (Str(a), Bool(b)) => a.eq_ignore_ascii_case("true").cmp(b),
        (Str(a), Int(b)) => java_parse_int(a).ok_or_else(|| num(a))?.cmp(b),
        (Str(a), Long(b)) => java_parse_long(a).ok_or_else(|| num(a))?.cmp(b),
        (Str(a), Double(b)) => double_cmp(java_parse_double(a).ok_or_else(|| num(a))?, *b),
        // Different types Java does not convert (a boolean with a number, anything with null).
        _ => Ordering::Less,
    })
}

// ---------------------------------------------------------------------------------------------
// Java number parsing and printing

/// First code points of the blocks of ten decimal digits Java's `Character.digit(c, 10)`
/// accepts in the Basic Multilingual Plane (Java 17; Nd characters).
const DIGIT_ZEROS: [u32; 37] = [
    0x0030, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6,
    0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80,
    0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
    0xFF10,
];

fn java_digit(c: char) -> Option<u32> {
    let c = c as u32;
    DIGIT_ZEROS
        .iter()
        .find(|&&z| c >= z && c < z + 10)
        .map(|z| c - z)
}

/// Java `Long.parseLong(s, 10)` limited to `[min, max]` (`Integer.parseInt` with the int range).
fn java_parse_integer(s: &str, min: i64, max: i64) -> Option<i64> {
    let mut chars = s.chars().peekable();
    let neg = match chars.peek() {
        Some('-') => {
            chars.next();
            true
        }
        Some('+') => {
            chars.next();
            false
        }
        _ => false,
    };
    let mut v: i128 = 0;
    let mut any = false;
    for c in chars {
        v = v * 10 + java_digit(c)? as i128;
        any = true;
        if v > (max as i128) + 1 {
            return None;
        }
    }
    if !any {
        return None;
    }
    let v = if neg { -v } else { v };
    (v >= min as i128 && v <= max as i128).then_some(v as i64)
}

fn java_parse_int(s: &str) -> Option<i32> {
    java_parse_integer(s, i32::MIN as i64, i32::MAX as i64).map(|v| v as i32)
}

fn java_parse_long(s: &str) -> Option<i64> {
    java_parse_integer(s, i64::MIN, i64::MAX)
}

/// Java `Double.valueOf(String)`: surrounding characters up to U+0020 trimmed, an optional
/// sign, then `NaN`, `Infinity`, a decimal or a hexadecimal (`0x1.8p3`) number with an
/// optional `f`/`F`/`d`/`D` suffix.
fn java_parse_double(s: &str) -> Option<f64> {
    let t = s.trim_matches(|c: char| c <= ' ');
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let v = if body == "NaN" {
        f64::NAN
    } else if body == "Infinity" {
        f64::INFINITY
    } else if body.len() > 2 && (body.starts_with("0x") || body.starts_with("0X")) {
        parse_hex_double(&body[2..])?
    } else {
        parse_dec_double(body)?
    };
    Some(if neg { -v } else { v })
}

fn strip_float_suffix(s: &str) -> &str {
    match s.as_bytes().last() {
        Some(b'f' | b'F' | b'd' | b'D') => &s[..s.len() - 1],
        _ => s,
    }
}

fn parse_dec_double(s: &str) -> Option<f64> {
    let s = strip_float_suffix(s);
    let b = s.as_bytes();
    let mut i = 0;
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = &s[int_start..i];
    let mut frac_digits = "";
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = &s[f..i];
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return None;
    }
    let mut exp = "";
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let e = i + 1;
        let mut j = e;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let d = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j == d {
            return None;
        }
        exp = &s[e..j];
        i = j;
    }
    if i != b.len() {
        return None;
    }
    let int_digits = if int_digits.is_empty() {
        "0"
    } else {
        int_digits
    };
    let frac_digits = if frac_digits.is_empty() {
        "0"
    } else {
        frac_digits
    };
    let text = if exp.is_empty() {
        format!("{int_digits}.{frac_digits}")
    } else {
        format!("{int_digits}.{frac_digits}e{exp}")
    };
    text.parse::<f64>().ok()
}

/// `HHH.HHHp±D` after the `0x` (the binary exponent is required, as in Java).
fn parse_hex_double(s: &str) -> Option<f64> {
    let s = strip_float_suffix(s);
    let p = s.find(['p', 'P'])?;
    let (mant, exp) = (&s[..p], &s[p + 1..]);
    let exp: i64 = {
        let (neg, d) = match exp.as_bytes().first() {
            Some(b'-') => (true, &exp[1..]),
            Some(b'+') => (false, &exp[1..]),
            _ => (false, exp),
        };
        if d.is_empty() || !d.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        // Far beyond the double range either way; saturate instead of overflowing.
        let v = d.parse::<i64>().unwrap_or(i64::MAX / 4).min(100_000);
        if neg {
            -v
        } else {
            v
        }
    };
    let (int_part, frac_part) = match mant.find('.') {
        Some(dot) => (&mant[..dot], &mant[dot + 1..]),
        None => (mant, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    // Keep 60 significant bits plus a sticky bit: enough for a correctly rounded double.
    let mut m: u64 = 0;
    let mut shift: i64 = 0;
    let mut sticky = false;
    for (i, c) in int_part.chars().chain(frac_part.chars()).enumerate() {
        let d = c.to_digit(16)? as u64;
        let in_frac = i >= int_part.len();
        if m >> 56 == 0 {
            m = (m << 4) | d;
            if in_frac {
                shift -= 4;
            }
        } else {
            sticky |= d != 0;
            if !in_frac {
                shift += 4;
            }
        }
    }
    if sticky {
        m |= 1;
    }
    Some((m as f64) * 2f64.powi((shift + exp).clamp(-2000, 2000) as i32))
}

/// Java `Double.toString`: shortest digits; plain between 10^-3 and 10^7, else `d.dddE±n`.
fn java_double_string(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let sci = format!("{:e}", d.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let sign = if d < 0.0 { "-" } else { "" };
    if (-3..7).contains(&exp) {
        let point = exp + 1;
        let s = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        format!("{sign}{s}")
    } else {
        let frac = if digits.len() > 1 { &digits[1..] } else { "0" };
        format!("{sign}{}.{}E{}", &digits[..1], frac, exp)
    }
}

// ---------------------------------------------------------------------------------------------
// expressions

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }

    fn holds(self, o: Ordering) -> bool {
        match self {
            CmpOp::Eq => o == Ordering::Equal,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::Ge => o != Ordering::Less,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::Le => o != Ordering::Greater,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrOp {
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone)]
enum Expr {
    /// A string or number literal.
    Const(Value),
    /// `TRUE`, `FALSE` or `NULL` (boolean-typed constants in Apache's tree).
    BoolConst(Option<bool>),
    Prop(String),
    Negate(Box<Expr>),
    Not(Box<Expr>),
    /// A bare property used as a condition.
    BoolCast(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    In {
        prop: String,
        list: Vec<String>,
        not: bool,
    },
    Str {
        op: StrOp,
        not: bool,
        operand: Box<Expr>,
        search: String,
    },
}

impl Expr {
    fn is_boolean(&self) -> bool {
        !matches!(self, Expr::Const(_) | Expr::Prop(_) | Expr::Negate(_))
    }

    fn is_constant(&self) -> bool {
        matches!(self, Expr::Const(_) | Expr::BoolConst(_))
    }

    fn constant(&self) -> Option<Value> {
        match self {
            Expr::Const(v) => Some(v.clone()),
            Expr::BoolConst(b) => Some(b.map_or(Value::Null, Value::Bool)),
            _ => None,
        }
    }

    fn eval<P: Properties + ?Sized>(&self, p: &P) -> Result<Value, EvalError> {
        Ok(match self {
            Expr::Const(v) => v.clone(),
            Expr::BoolConst(b) => b.map_or(Value::Null, Value::Bool),
            Expr::Prop(name) => p
                .property(name)
                .map_or(Value::Null, |s| Value::Str(s.to_string())),
            Expr::Negate(e) => match e.eval(p)? {
                Value::Int(i) => Value::Int(i.wrapping_neg()),
                Value::Long(l) => Value::Long(l.wrapping_neg()),
                Value::Double(d) => Value::Double(-d),
                _ => Value::Null,
            },
            Expr::Not(e) => match e.eval(p)? {
                Value::Bool(b) => Value::Bool(!b),
                _ => Value::Null,
            },
            Expr::BoolCast(e) => match e.eval(p)? {
                Value::Null => Value::Null,
                Value::Bool(b) => Value::Bool(b),
                _ => Value::Bool(false),
            },
            Expr::And(l, r) => {
                let lv = l.eval(p)?;
                if lv == Value::Bool(false) {
                    return Ok(lv);
                }
                let rv = r.eval(p)?;
                if rv == Value::Bool(false) {
                    return Ok(rv);
                }
                if lv == Value::Null || rv == Value::Null {
                    Value::Null
                } else {
                    Value::Bool(true)
                }
            }
            Expr::Or(l, r) => {
                let lv = l.eval(p)?;
                if lv == Value::Bool(true) {
                    return Ok(lv);
                }
                let rv = r.eval(p)?;
                if rv == Value::Bool(true) {
                    return Ok(rv);
                }
                if lv == Value::Null || rv == Value::Null {
                    Value::Null
                } else {
                    Value::Bool(false)
                }
            }
            Expr::Cmp(CmpOp::Eq, l, r) => {
                let (lv, rv) = (l.eval(p)?, r.eval(p)?);
                match (&lv, &rv) {
                    (Value::Null, Value::Null) => Value::Bool(true),
                    (Value::Null, _) => Value::Null,
                    (_, Value::Null) => Value::Bool(false),
                    _ => Value::Bool(compare(&lv, &rv).map_err(ConvError::into_eval)?.is_eq()),
                }
            }
            Expr::Cmp(op, l, r) => {
                let lv = l.eval(p)?;
                if lv == Value::Null {
                    return Ok(Value::Null);
                }
                let rv = r.eval(p)?;
                if rv == Value::Null {
                    return Ok(Value::Null);
                }
                let o = match (&lv, &rv) {
                    // Two strings are compared as numbers, or not at all.
                    (Value::Str(a), Value::Str(b)) => {
                        let a = java_parse_double(a).ok_or_else(|| EvalError::Number(a.clone()))?;
                        let b = java_parse_double(b).ok_or_else(|| EvalError::Number(b.clone()))?;
                        double_cmp(a, b)
                    }
                    _ => compare(&lv, &rv).map_err(ConvError::into_eval)?,
                };
                Value::Bool(op.holds(o))
            }
            Expr::In { prop, list, not } => match p.property(prop) {
                None => Value::Null,
                Some(v) => Value::Bool(list.iter().any(|x| x == v) ^ not),
            },
            Expr::Str {
                op,
                not,
                operand,
                search,
            } => {
                if search.is_empty() {
                    return Ok(Value::Bool(false));
                }
                match operand.eval(p)? {
                    Value::Str(s) => {
                        let hit = match op {
                            StrOp::Contains => s.contains(search.as_str()),
                            StrOp::StartsWith => s.starts_with(search.as_str()),
                            StrOp::EndsWith => s.ends_with(search.as_str()),
                        };
                        Value::Bool(hit ^ not)
                    }
                    _ => Value::Bool(false),
                }
            }
        })
    }
}

/// Apache's `toString` of its expression tree (error messages quote it).
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Const(Value::Str(s)) => write!(f, "'{}'", s.replace('\'', "''")),
            Expr::Const(v) => f.write_str(&v.java_string()),
            Expr::BoolConst(None) => f.write_str("NULL"),
            Expr::BoolConst(Some(true)) => f.write_str("TRUE"),
            Expr::BoolConst(Some(false)) => f.write_str("FALSE"),
            Expr::Prop(n) => f.write_str(n),
            Expr::Negate(e) => write!(f, "(- {e})"),
            Expr::Not(e) => write!(f, "(NOT {e})"),
            Expr::BoolCast(e) => write!(f, "{e}"),
            Expr::And(l, r) => write!(f, "({l} && {r})"),
            Expr::Or(l, r) => write!(f, "({l} || {r})"),
            Expr::Cmp(op, l, r) => write!(f, "({l} {} {r})", op.symbol()),
            Expr::In { prop, list, not } => write!(
                f,
                "{prop} {} ( {} )",
                if *not { "NOT IN" } else { "IN" },
                list.join(", ")
            ),
            Expr::Str {
                op, not, operand, ..
            } => {
                let name = match op {
                    StrOp::Contains => "CONTAINS",
                    StrOp::StartsWith => "STARTSWITH",
                    StrOp::EndsWith => "ENDSWITH",
                };
                let not = if *not { "NOT " } else { "" };
                write!(f, "({not}{name} {operand})")
            }
        }
    }
}

fn as_boolean(e: Expr) -> Result<Expr, CompileError> {
    match e {
        Expr::Prop(_) => Ok(Expr::BoolCast(Box::new(e))),
        e if e.is_boolean() => Ok(e),
        e => Err(CompileError::new(
            PARSE_EXCEPTION,
            format!("Expression will not result in a boolean value: {e}"),
        )),
    }
}

fn check_less_than_operand(e: &Expr) -> Result<(), CompileError> {
    let ok = match e.constant() {
        Some(v) => matches!(v, Value::Int(_) | Value::Long(_) | Value::Double(_)),
        None => !e.is_boolean(),
    };
    if ok {
        Ok(())
    } else {
        Err(CompileError::runtime(format!(
            "Value '{e}' cannot be compared."
        )))
    }
}

fn ordering(op: CmpOp, l: Expr, r: Expr) -> Result<Expr, CompileError> {
    check_less_than_operand(&l)?;
    check_less_than_operand(&r)?;
    Ok(Expr::Cmp(op, Box::new(l), Box::new(r)))
}

fn equal(l: Expr, r: Expr) -> Result<Expr, CompileError> {
    for e in [&l, &r] {
        if e.constant() == Some(Value::Null) {
            return Err(CompileError::runtime(format!("'{e}' cannot be compared.")));
        }
    }
    if matches!(l, Expr::BoolConst(_)) && r.is_constant() && !r.is_boolean() {
        return Err(CompileError::runtime(format!(
            "'{l}' cannot be compared with '{r}'"
        )));
    }
    Ok(Expr::Cmp(CmpOp::Eq, Box::new(l), Box::new(r)))
}

fn between(value: Expr, low: Expr, high: Expr, not: bool) -> Result<Expr, CompileError> {
    if not {
        let lt = ordering(CmpOp::Lt, value.clone(), low)?;
        let gt = ordering(CmpOp::Gt, value, high)?;
        return Ok(Expr::Or(Box::new(lt), Box::new(gt)));
    }
    if let (Some(lv), Some(hv)) = (low.constant(), high.constant()) {
        if lv == Value::Null || hv == Value::Null {
            return Err(CompileError::runtime(
                "Illegal values of between, values can not be null!",
            ));
        }
        if compare(&hv, &lv).map_err(ConvError::into_compile)? == Ordering::Less {
            return Err(CompileError::runtime(format!(
                "Illegal values of between, left value({}) must less than or equal to right value({})",
                lv.java_string(),
                hv.java_string()
            )));
        }
    }
    let ge = ordering(CmpOp::Ge, value.clone(), low)?;
    let le = ordering(CmpOp::Le, value, high)?;
    Ok(Expr::And(Box::new(ge), Box::new(le)))
}

// ---------------------------------------------------------------------------------------------
// tokens

const PARSE_EXCEPTION: &str = "org.apache.rocketmq.filter.parser.ParseException";
const LEXICAL_ERROR: &str = "org.apache.rocketmq.filter.parser.TokenMgrError";

/// Token kinds, numbered as in Apache's generated parser (the numbers order the "expecting"
/// list of a syntax error).
mod kind {
    pub const EOF: u8 = 0;
    pub const NOT: u8 = 8;
    pub const AND: u8 = 9;
    pub const OR: u8 = 10;
    pub const BETWEEN: u8 = 11;
    pub const IN: u8 = 12;
    pub const TRUE: u8 = 13;
    pub const FALSE: u8 = 14;
    pub const NULL: u8 = 15;
    pub const IS: u8 = 16;
    pub const CONTAINS: u8 = 17;
    pub const STARTSWITH: u8 = 18;
    pub const ENDSWITH: u8 = 19;
    pub const DECIMAL: u8 = 20;
    pub const FLOAT: u8 = 21;
    pub const STRING: u8 = 23;
    pub const ID: u8 = 24;
    pub const EQ: u8 = 25;
    pub const NE: u8 = 26;
    pub const GT: u8 = 27;
    pub const GE: u8 = 28;
    pub const LT: u8 = 29;
    pub const LE: u8 = 30;
    pub const LPAREN: u8 = 31;
    pub const COMMA: u8 = 32;
    pub const RPAREN: u8 = 33;
    pub const PLUS: u8 = 34;
    pub const MINUS: u8 = 35;
}

fn kind_image(k: u8) -> &'static str {
    match k {
        kind::EOF => "<EOF>",
        kind::NOT => "\"NOT\"",
        kind::AND => "\"AND\"",
        kind::OR => "\"OR\"",
        kind::BETWEEN => "\"BETWEEN\"",
        kind::IN => "\"IN\"",
        kind::TRUE => "\"TRUE\"",
        kind::FALSE => "\"FALSE\"",
        kind::NULL => "\"NULL\"",
        kind::IS => "\"IS\"",
        kind::CONTAINS => "\"CONTAINS\"",
        kind::STARTSWITH => "\"STARTSWITH\"",
        kind::ENDSWITH => "\"ENDSWITH\"",
        kind::DECIMAL => "<DECIMAL_LITERAL>",
        kind::FLOAT => "<FLOATING_POINT_LITERAL>",
        kind::STRING => "<STRING_LITERAL>",
        kind::ID => "<ID>",
        kind::EQ => "\"=\"",
        kind::NE => "\"<>\"",
        kind::GT => "\">\"",
        kind::GE => "\">=\"",
        kind::LT => "\"<\"",
        kind::LE => "\"<=\"",
        kind::LPAREN => "\"(\"",
        kind::COMMA => "\",\"",
        kind::RPAREN => "\")\"",
        kind::PLUS => "\"+\"",
        _ => "\"-\"",
    }
}

const KEYWORDS: [(&str, u8); 12] = [
    ("NOT", kind::NOT),
    ("AND", kind::AND),
    ("OR", kind::OR),
    ("BETWEEN", kind::BETWEEN),
    ("IN", kind::IN),
    ("TRUE", kind::TRUE),
    ("FALSE", kind::FALSE),
    ("NULL", kind::NULL),
    ("IS", kind::IS),
    ("CONTAINS", kind::CONTAINS),
    ("STARTSWITH", kind::STARTSWITH),
    ("ENDSWITH", kind::ENDSWITH),
];

/// What the first tokens of a unary expression may be (the "expecting" list there).
const UNARY_START: [u8; 10] = [
    kind::NOT,
    kind::TRUE,
    kind::FALSE,
    kind::NULL,
    kind::DECIMAL,
    kind::FLOAT,
    kind::STRING,
    kind::ID,
    kind::LPAREN,
    kind::MINUS,
];

/// Operators that continue a comparison (`NOT` for `NOT IN`, `NOT BETWEEN`, ...).
const COMPARISON_OPS: [u8; 10] = [
    kind::NOT,
    kind::BETWEEN,
    kind::IN,
    kind::CONTAINS,
    kind::STARTSWITH,
    kind::ENDSWITH,
    kind::GT,
    kind::GE,
    kind::LT,
    kind::LE,
];

#[derive(Debug, Clone)]
struct Token {
    kind: u8,
    image: String,
    line: u32,
    column: u32,
}

/// Java's escaping of token text in parser messages.
fn java_escape(s: &str) -> String {
    let mut out = String::new();
    for u in s.encode_utf16() {
        match u {
            0 => {}
            8 => out.push_str("\\b"),
            9 => out.push_str("\\t"),
            10 => out.push_str("\\n"),
            12 => out.push_str("\\f"),
            13 => out.push_str("\\r"),
            0x22 => out.push_str("\\\""),
            0x27 => out.push_str("\\'"),
            0x5c => out.push_str("\\\\"),
            u if !(0x20..=0x7e).contains(&u) => out.push_str(&format!("\\u{u:04x}")),
            u => out.push(u as u8 as char),
        }
    }
    out
}

/// Line and column as Java's character stream counts them (tabs to the next multiple of 8,
/// `\r\n` one line break, columns in UTF-16 units).
#[derive(Default)]
struct JavaPosition {
    line: u32,
    column: u32,
    prev_lf: bool,
    prev_cr: bool,
}

impl JavaPosition {
    fn read(&mut self, u: u16) {
        if self.line == 0 {
            self.line = 1;
        }
        self.column += 1;
        if self.prev_lf {
            self.prev_lf = false;
            self.line += 1;
            self.column = 1;
        } else if self.prev_cr {
            self.prev_cr = false;
            if u == u16::from(b'\n') {
                self.prev_lf = true;
            } else {
                self.line += 1;
                self.column = 1;
            }
        }
        match u {
            13 => self.prev_cr = true,
            10 => self.prev_lf = true,
            9 => {
                self.column -= 1;
                self.column += 8 - (self.column % 8);
            }
            _ => {}
        }
    }
}

/// The lexer: characters with their [`JavaPosition`].
struct Lexer {
    chars: Vec<char>,
    pos: Vec<(u32, u32)>,
    at: usize,
}

impl Lexer {
    fn new(src: &str) -> Self {
        let chars: Vec<char> = src.chars().collect();
        let mut pos = Vec::with_capacity(chars.len());
        let mut at = JavaPosition::default();
        for &c in &chars {
            let mut units = [0u16; 2];
            let units = c.encode_utf16(&mut units);
            at.read(units[0]);
            // A token or an error points at the first UTF-16 unit of a character.
            pos.push((at.line, at.column));
            if let Some(&low) = units.get(1) {
                at.read(low);
            }
        }
        Lexer { chars, pos, at: 0 }
    }

    fn peek_at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    fn text(&self, from: usize, to: usize) -> String {
        self.chars[from..to].iter().collect()
    }

    /// A lexical error: `last` is the index of the last character read, `failed_on_char`
    /// whether reading stopped on a character no token can continue with (else at the end).
    fn error(&self, start: usize, last: usize, failed_on_char: bool) -> CompileError {
        let read = last + 1 - start;
        let (line, col) = self.pos[last];
        let c = self.chars[last];
        // A character outside the BMP is two Java chars: its second half always follows.
        let more = last + 1 < self.chars.len() || c.len_utf16() > 1;
        let msg = if failed_on_char && more {
            let after = if read <= 1 {
                String::new()
            } else {
                self.text(start, last)
            };
            let unit = c.encode_utf16(&mut [0u16; 2])[0];
            let shown: String = char::from_u32(unit as u32).map_or_else(
                || format!("\\u{unit:04x}"),
                |ch| java_escape(&ch.to_string()),
            );
            format!(
                "Lexical error at line {line}, column {col}.  Encountered: \"{shown}\" ({unit}), after : \"{}\"",
                java_escape(&after)
            )
        } else {
            let after = if read <= 1 {
                String::new()
            } else {
                self.text(start, last + 1)
            };
            let (line, col) = if c == '\n' || c == '\r' {
                (line + 1, 0)
            } else {
                (line, col + 1)
            };
            format!(
                "Lexical error at line {line}, column {col}.  Encountered: <EOF> after : \"{}\"",
                java_escape(&after)
            )
        };
        CompileError::new(LEXICAL_ERROR, msg)
    }

    fn next_token(&mut self) -> Result<Token, CompileError> {
        loop {
            let s = self.at;
            let Some(c) = self.peek_at(s) else {
                let (line, column) = self.pos.last().copied().unwrap_or((0, 0));
                return Ok(Token {
                    kind: kind::EOF,
                    image: String::new(),
                    line,
                    column,
                });
            };
            let (k, len) = match c {
                ' ' | '\t' | '\n' | '\r' | '\u{c}' => {
                    self.at += 1;
                    continue;
                }
                'a'..='z' | 'A'..='Z' | '_' | '$' => {
                    let mut e = s + 1;
                    while self
                        .peek_at(e)
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
                    {
                        e += 1;
                    }
                    let word = self.text(s, e);
                    let k = KEYWORDS
                        .iter()
                        .find(|(w, _)| w.eq_ignore_ascii_case(&word))
                        .map_or(kind::ID, |(_, k)| *k);
                    (k, e - s)
                }
                '0'..='9' => self.number(s),
                '.' => {
                    if self.peek_at(s + 1).is_some_and(|c| c.is_ascii_digit()) {
                        self.number(s)
                    } else if s + 1 < self.chars.len() {
                        return Err(self.error(s, s + 1, true));
                    } else {
                        return Err(self.error(s, s, false));
                    }
                }
                '\'' => {
                    // Longest literal: a doubled quote continues it, so the last complete one
                    // wins when a later quote is never closed.
                    let mut i = s + 1;
                    let mut complete = None;
                    while let Some(j) = (i..self.chars.len()).find(|&j| self.chars[j] == '\'') {
                        complete = Some(j + 1 - s);
                        if self.peek_at(j + 1) != Some('\'') {
                            break;
                        }
                        i = j + 2;
                    }
                    match complete {
                        Some(len) => (kind::STRING, len),
                        None => return Err(self.error(s, self.chars.len() - 1, false)),
                    }
                }
                '-' if self.peek_at(s + 1) == Some('-') => {
                    let end = (s + 2..self.chars.len())
                        .find(|&j| self.chars[j] == '\n' || self.chars[j] == '\r');
                    match end {
                        Some(j) => {
                            let j = if self.chars[j] == '\r' && self.peek_at(j + 1) == Some('\n') {
                                j + 1
                            } else {
                                j
                            };
                            self.at = j + 1;
                            continue;
                        }
                        // An unfinished comment: the longest complete token is the minus.
                        None => (kind::MINUS, 1),
                    }
                }
                '/' => {
                    if self.peek_at(s + 1) == Some('*') {
                        let end = (s + 2..self.chars.len().saturating_sub(1))
                            .find(|&j| self.chars[j] == '*' && self.chars[j + 1] == '/');
                        match end {
                            Some(j) => {
                                self.at = j + 2;
                                continue;
                            }
                            None => return Err(self.error(s, self.chars.len() - 1, false)),
                        }
                    } else if s + 1 < self.chars.len() {
                        return Err(self.error(s, s + 1, true));
                    } else {
                        return Err(self.error(s, s, false));
                    }
                }
                '=' => (kind::EQ, 1),
                '<' => match self.peek_at(s + 1) {
                    Some('>') => (kind::NE, 2),
                    Some('=') => (kind::LE, 2),
                    _ => (kind::LT, 1),
                },
                '>' => match self.peek_at(s + 1) {
                    Some('=') => (kind::GE, 2),
                    _ => (kind::GT, 1),
                },
                '(' => (kind::LPAREN, 1),
                ')' => (kind::RPAREN, 1),
                ',' => (kind::COMMA, 1),
                '+' => (kind::PLUS, 1),
                '-' => (kind::MINUS, 1),
                _ => return Err(self.error(s, s, true)),
            };
            self.at = s + len;
            let (line, column) = self.pos[s];
            return Ok(Token {
                kind: k,
                image: self.text(s, s + len),
                line,
                column,
            });
        }
    }

    /// The longest decimal or floating-point literal at `s` (which starts with a digit, or a
    /// dot followed by one).
    fn number(&self, s: usize) -> (u8, usize) {
        let digits = |mut i: usize| {
            while self.peek_at(i).is_some_and(|c| c.is_ascii_digit()) {
                i += 1;
            }
            i
        };
        // `E[+-]?digits` at i: its end, if complete.
        let exponent = |i: usize| {
            if !matches!(self.peek_at(i), Some('e' | 'E')) {
                return None;
            }
            let mut j = i + 1;
            if matches!(self.peek_at(j), Some('+' | '-')) {
                j += 1;
            }
            let e = digits(j);
            (e > j).then_some(e)
        };
        let int_end = digits(s);
        let mut best = (kind::DECIMAL, 0usize);
        if int_end > s {
            let dec_len = if self.chars[s] == '0' {
                1
            } else if matches!(self.peek_at(int_end), Some('l' | 'L')) {
                int_end + 1 - s
            } else {
                int_end - s
            };
            best = (kind::DECIMAL, dec_len);
            if let Some(e) = exponent(int_end) {
                if e - s > best.1 {
                    best = (kind::FLOAT, e - s);
                }
            }
        }
        if self.peek_at(int_end) == Some('.') {
            let frac_end = digits(int_end + 1);
            if int_end > s || frac_end > int_end + 1 {
                let end = exponent(frac_end).unwrap_or(frac_end);
                if end - s > best.1 {
                    best = (kind::FLOAT, end - s);
                }
            }
        }
        best
    }
}

// ---------------------------------------------------------------------------------------------
// parser

/// Recursive descent over Apache's grammar. Syntax errors list the tokens that were tested
/// at the failing position, in the order Apache's generated parser lists them.
struct Parser {
    lexer: Lexer,
    tokens: Vec<Token>,
    /// Index of the next token.
    next: usize,
    /// Kinds tested at `next` by plain choices (sorted when reported).
    tested: Vec<u8>,
    /// Kinds reported after those (Apache's syntactic look-aheads): (token index, kind).
    lookahead: Vec<(usize, u8)>,
}

impl Parser {
    fn new(src: &str) -> Self {
        Parser {
            lexer: Lexer::new(src),
            tokens: Vec::new(),
            next: 0,
            tested: Vec::new(),
            lookahead: Vec::new(),
        }
    }

    fn token(&mut self, i: usize) -> Result<&Token, CompileError> {
        while self.tokens.len() <= i {
            let eof = self.tokens.last().is_some_and(|t| t.kind == kind::EOF);
            let t = if eof {
                self.tokens.last().cloned().expect("checked above")
            } else {
                self.lexer.next_token()?
            };
            self.tokens.push(t);
        }
        Ok(&self.tokens[i])
    }

    fn peek(&mut self) -> Result<u8, CompileError> {
        let i = self.next;
        Ok(self.token(i)?.kind)
    }

    fn peek2(&mut self) -> Result<u8, CompileError> {
        let i = self.next + 1;
        Ok(self.token(i)?.kind)
    }

    fn test(&mut self, kinds: &[u8]) {
        self.tested.extend_from_slice(kinds);
    }

    fn advance(&mut self) -> Token {
        let t = self.tokens[self.next].clone();
        self.next += 1;
        self.tested.clear();
        t
    }

    fn expect(&mut self, k: u8) -> Result<Token, CompileError> {
        if self.peek()? == k {
            Ok(self.advance())
        } else {
            self.tested.push(k);
            Err(self.syntax_error())
        }
    }

    fn syntax_error(&mut self) -> CompileError {
        let mut kinds = std::mem::take(&mut self.tested);
        kinds.sort_unstable();
        kinds.dedup();
        for &(at, k) in &self.lookahead {
            if at == self.next && !kinds.contains(&k) {
                kinds.push(k);
            }
        }
        let t = match self.token(self.next) {
            Ok(t) => t.clone(),
            Err(e) => return e,
        };
        let mut msg = String::from("Encountered \"");
        if t.kind == kind::EOF {
            msg.push_str("<EOF>");
        } else {
            msg.push_str(&format!(
                " {} \"{} \"",
                kind_image(t.kind),
                java_escape(&t.image)
            ));
        }
        msg.push_str(&format!("\" at line {}, column {}.\n", t.line, t.column));
        msg.push_str(if kinds.len() == 1 {
            "Was expecting:\n    "
        } else {
            "Was expecting one of:\n    "
        });
        for k in kinds {
            msg.push_str(kind_image(k));
            msg.push_str(" ...\n    ");
        }
        CompileError::new(PARSE_EXCEPTION, msg)
    }

    fn or_expr(&mut self) -> Result<Expr, CompileError> {
        let mut left = self.and_expr()?;
        loop {
            if self.peek()? != kind::OR {
                self.test(&[kind::OR]);
                return Ok(left);
            }
            self.advance();
            let right = self.and_expr()?;
            left = Expr::Or(Box::new(as_boolean(left)?), Box::new(as_boolean(right)?));
        }
    }

    fn and_expr(&mut self) -> Result<Expr, CompileError> {
        let mut left = self.equality_expr()?;
        loop {
            if self.peek()? != kind::AND {
                self.test(&[kind::AND]);
                return Ok(left);
            }
            self.advance();
            let right = self.equality_expr()?;
            left = Expr::And(Box::new(as_boolean(left)?), Box::new(as_boolean(right)?));
        }
    }

    fn equality_expr(&mut self) -> Result<Expr, CompileError> {
        let mut left = self.comparison_expr()?;
        loop {
            match self.peek()? {
                kind::EQ => {
                    self.advance();
                    let right = self.comparison_expr()?;
                    left = equal(left, right)?;
                }
                kind::NE => {
                    self.advance();
                    let right = self.comparison_expr()?;
                    left = Expr::Not(Box::new(equal(left, right)?));
                }
                kind::IS => {
                    let is_at = self.next;
                    if self.peek2()? == kind::NULL {
                        self.advance();
                        self.advance();
                        left =
                            Expr::Cmp(CmpOp::Eq, Box::new(left), Box::new(Expr::BoolConst(None)));
                    } else {
                        // The look-ahead for `IS NULL` failed on the token after IS.
                        self.lookahead.push((is_at + 1, kind::NULL));
                        self.advance();
                        self.expect(kind::NOT)?;
                        self.expect(kind::NULL)?;
                        left = Expr::Not(Box::new(Expr::Cmp(
                            CmpOp::Eq,
                            Box::new(left),
                            Box::new(Expr::BoolConst(None)),
                        )));
                    }
                }
                _ => {
                    self.test(&[kind::EQ, kind::NE, kind::IS]);
                    return Ok(left);
                }
            }
        }
    }

    fn string_literal(&mut self) -> Result<String, CompileError> {
        let t = self.expect(kind::STRING)?;
        let inner = &t.image[1..t.image.len() - 1];
        Ok(inner.replace("''", "'"))
    }

    fn comparison_expr(&mut self) -> Result<Expr, CompileError> {
        let mut left = self.unary_expr()?;
        loop {
            let k = self.peek()?;
            if !COMPARISON_OPS.contains(&k) {
                self.test(&COMPARISON_OPS);
                return Ok(left);
            }
            let not = k == kind::NOT;
            if not {
                let k2 = self.peek2()?;
                if !matches!(
                    k2,
                    kind::CONTAINS | kind::STARTSWITH | kind::ENDSWITH | kind::BETWEEN | kind::IN
                ) {
                    self.test(&COMPARISON_OPS[1..]);
                    return Err(self.syntax_error());
                }
                self.advance();
            }
            let op = self.advance().kind;
            left = match op {
                kind::GT | kind::GE | kind::LT | kind::LE => {
                    let right = self.unary_expr()?;
                    let op = match op {
                        kind::GT => CmpOp::Gt,
                        kind::GE => CmpOp::Ge,
                        kind::LT => CmpOp::Lt,
                        _ => CmpOp::Le,
                    };
                    ordering(op, left, right)?
                }
                kind::CONTAINS | kind::STARTSWITH | kind::ENDSWITH => {
                    let search = self.string_literal()?;
                    let op = match op {
                        kind::CONTAINS => StrOp::Contains,
                        kind::STARTSWITH => StrOp::StartsWith,
                        _ => StrOp::EndsWith,
                    };
                    Expr::Str {
                        op,
                        not,
                        operand: Box::new(left),
                        search,
                    }
                }
                kind::BETWEEN => {
                    let low = self.unary_expr()?;
                    self.expect(kind::AND)?;
                    let high = self.unary_expr()?;
                    between(left, low, high, not)?
                }
                _ => {
                    self.expect(kind::LPAREN)?;
                    let mut list = vec![self.string_literal()?];
                    loop {
                        if self.peek()? == kind::COMMA {
                            self.advance();
                            list.push(self.string_literal()?);
                        } else {
                            self.test(&[kind::COMMA]);
                            break;
                        }
                    }
                    self.expect(kind::RPAREN)?;
                    match left {
                        Expr::Prop(prop) => Expr::In { prop, list, not },
                        other => {
                            return Err(CompileError::runtime(format!(
                                "Expected a property for In expression, got: {other}"
                            )))
                        }
                    }
                }
            };
        }
    }

    /// Whether a unary expression follows (syntax only, nothing consumed): Apache's look-ahead
    /// before taking a `+`.
    fn scan_unary(&mut self) -> Result<bool, CompileError> {
        let saved = (self.next, self.tested.clone(), self.lookahead.len());
        let ok = match self.unary_expr_inner(true) {
            Ok(_) => true,
            // Lexical errors are not look-ahead failures: Java's token manager throws them.
            Err(e) if e.message.starts_with(LEXICAL_ERROR) => return Err(e),
            Err(_) => false,
        };
        self.next = saved.0;
        self.tested = saved.1;
        self.lookahead.truncate(saved.2);
        Ok(ok)
    }

    fn unary_expr(&mut self) -> Result<Expr, CompileError> {
        self.unary_expr_inner(false)
    }

    fn unary_expr_inner(&mut self, scanning: bool) -> Result<Expr, CompileError> {
        let k = self.peek()?;
        if k == kind::PLUS {
            let plus_at = self.next;
            self.next += 1;
            let follows = self.scan_unary()?;
            self.next = plus_at;
            if follows {
                self.advance();
                return self.unary_expr_inner(scanning);
            }
        } else {
            self.lookahead.push((self.next, kind::PLUS));
        }
        match k {
            kind::MINUS => {
                self.advance();
                let e = self.unary_expr_inner(scanning)?;
                Ok(Expr::Negate(Box::new(e)))
            }
            kind::NOT => {
                self.advance();
                let e = self.unary_expr_inner(scanning)?;
                if scanning {
                    return Ok(e);
                }
                Ok(Expr::Not(Box::new(as_boolean(e)?)))
            }
            kind::STRING => {
                let s = self.string_literal()?;
                Ok(Expr::Const(Value::Str(s)))
            }
            kind::DECIMAL => {
                let t = self.advance();
                if scanning {
                    return Ok(Expr::BoolConst(None));
                }
                decimal_literal(&t.image)
            }
            kind::FLOAT => {
                let t = self.advance();
                if scanning {
                    return Ok(Expr::BoolConst(None));
                }
                float_literal(&t.image)
            }
            kind::TRUE => {
                self.advance();
                Ok(Expr::BoolConst(Some(true)))
            }
            kind::FALSE => {
                self.advance();
                Ok(Expr::BoolConst(Some(false)))
            }
            kind::NULL => {
                self.advance();
                Ok(Expr::BoolConst(None))
            }
            kind::ID => Ok(Expr::Prop(self.advance().image)),
            kind::LPAREN => {
                self.advance();
                let e = if scanning {
                    self.scan_or_expr()?
                } else {
                    self.or_expr()?
                };
                self.expect(kind::RPAREN)?;
                Ok(e)
            }
            _ => {
                self.test(&UNARY_START);
                Err(self.syntax_error())
            }
        }
    }

    /// `orExpression` in look-ahead mode: the same tokens, no checks on operand types.
    fn scan_or_expr(&mut self) -> Result<Expr, CompileError> {
        loop {
            self.scan_equality()?;
            match self.peek()? {
                kind::OR | kind::AND => {
                    self.advance();
                }
                _ => return Ok(Expr::BoolConst(None)),
            }
        }
    }

    fn scan_equality(&mut self) -> Result<(), CompileError> {
        self.scan_comparison()?;
        loop {
            match self.peek()? {
                kind::EQ | kind::NE => {
                    self.advance();
                    self.scan_comparison()?;
                }
                kind::IS => {
                    self.advance();
                    if self.peek()? == kind::NOT {
                        self.advance();
                    }
                    self.expect(kind::NULL)?;
                }
                _ => return Ok(()),
            }
        }
    }

    fn scan_comparison(&mut self) -> Result<(), CompileError> {
        self.unary_expr_inner(true)?;
        loop {
            let k = self.peek()?;
            if !COMPARISON_OPS.contains(&k) {
                return Ok(());
            }
            if k == kind::NOT {
                let k2 = self.peek2()?;
                if !matches!(
                    k2,
                    kind::CONTAINS | kind::STARTSWITH | kind::ENDSWITH | kind::BETWEEN | kind::IN
                ) {
                    return Err(self.syntax_error());
                }
                self.advance();
            }
            match self.advance().kind {
                kind::CONTAINS | kind::STARTSWITH | kind::ENDSWITH => {
                    self.expect(kind::STRING)?;
                }
                kind::BETWEEN => {
                    self.unary_expr_inner(true)?;
                    self.expect(kind::AND)?;
                    self.unary_expr_inner(true)?;
                }
                kind::IN => {
                    self.expect(kind::LPAREN)?;
                    self.expect(kind::STRING)?;
                    while self.peek()? == kind::COMMA {
                        self.advance();
                        self.expect(kind::STRING)?;
                    }
                    self.expect(kind::RPAREN)?;
                }
                _ => {
                    self.unary_expr_inner(true)?;
                }
            }
        }
    }
}

fn decimal_literal(image: &str) -> Result<Expr, CompileError> {
    let digits = image.trim_end_matches(['l', 'L']);
    let v: i64 = digits.parse().map_err(|_| {
        CompileError::new(
            "java.lang.NumberFormatException",
            number_format_message(digits),
        )
    })?;
    Ok(Expr::Const(match i32::try_from(v) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::Long(v),
    }))
}

fn float_literal(image: &str) -> Result<Expr, CompileError> {
    let v = java_parse_double(image).unwrap_or(f64::NAN);
    if v > f64::MAX {
        return Err(CompileError::runtime(format!(
            "{image} is greater than 1.7976931348623157E308"
        )));
    }
    if v < f64::from_bits(1) {
        return Err(CompileError::runtime(format!(
            "{image} is less than 4.9E-324"
        )));
    }
    Ok(Expr::Const(Value::Double(v)))
}

#[cfg(test)]
mod tests;
