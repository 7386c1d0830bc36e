//! The table of expressions, properties and Apache's answers (`../sql92_table.tsv`, written by
//! `interop/java/SqlFilterTable.java` from Apache 5.5.0's own filter classes).

use super::*;

const TABLE: &str = include_str!("../sql92_table.tsv");

/// Rows whose expected text depends on the JVM that wrote the table, not on Apache's code:
/// JDK 17's `Double.toString(1e23)` is `9.999999999999999E22`; JDK 19+ print the shortest
/// form `1.0E23`, as we do.
const JVM_DEPENDENT: [&str; 1] = ["1e23 AND TRUE"];

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex escape"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("UTF-8 property")
}

fn props(col: &str) -> Vec<(String, String)> {
    if col.is_empty() {
        return Vec::new();
    }
    col.split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("name=value");
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn answer(expr: &str, props: &[(String, String)]) -> String {
    let f = match Sql92Filter::compile(expr) {
        Ok(f) => f,
        Err(e) => {
            let m = e.message().replace('\\', "\\\\").replace('\n', "\\n");
            return format!("PARSE {}", m.replace('\t', "\\t").replace('\r', "\\r"));
        }
    };
    match f.evaluate(props) {
        Ok(Some(true)) => "TRUE".into(),
        Ok(Some(false)) => "FALSE".into(),
        Ok(None) => "NULL".into(),
        Err(EvalError::Number(_)) => "THROW RuntimeException".into(),
        Err(EvalError::BooleanWithString) => "THROW ClassCastException".into(),
    }
}

#[test]
fn matches_apache_table() {
    let mut rows = 0;
    let mut wrong = Vec::new();
    for line in TABLE.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 3, "malformed row: {line:?}");
        rows += 1;
        if JVM_DEPENDENT.contains(&cols[0]) {
            continue;
        }
        let got = answer(&unescape(cols[0]), &props(cols[1]));
        if got != cols[2] {
            wrong.push(format!(
                "{:?} with [{}]\n   apache: {}\n   ours:   {}",
                cols[0], cols[1], cols[2], got
            ));
        }
    }
    assert!(rows > 400, "table has {rows} rows");
    assert!(
        wrong.is_empty(),
        "{} of {rows} rows differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn shortest_double_strings_like_java() {
    for (d, s) in [
        (1e23, "1.0E23"),
        (100000000.5, "1.000000005E8"),
        (0.001, "0.001"),
        (1e-4, "1.0E-4"),
        (1234567.0, "1234567.0"),
        (12345678.0, "1.2345678E7"),
        (-2.5, "-2.5"),
        (f64::MIN_POSITIVE, "2.2250738585072014E-308"),
    ] {
        assert_eq!(java_double_string(d), s);
    }
}

#[test]
fn only_true_matches() {
    let f = Sql92Filter::compile("a > 1").unwrap();
    let none: [(&str, &str); 0] = [];
    assert!(!f.matches(&none[..]));
    assert!(!f.matches(&[("a", "x")][..]));
    assert!(f.matches(&[("a", "2")][..]));
}
