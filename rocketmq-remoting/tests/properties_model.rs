//! `Properties` (one text buffer, kept in its wire form while it can be) against a plain
//! ordered list of owned pairs with the documented semantics: same pairs, same encoding, and
//! `as_encoded` only ever the true encoding.

use proptest::prelude::*;
use rocketmq_rs_remoting::protocol::message::{decode_properties, encode_properties, Properties};

#[derive(Debug, Clone)]
enum Op {
    Insert(String, String),
    Remove(String),
    /// Keep the pairs whose key is not this one.
    RetainNot(String),
    Clear,
    Clone,
    Reencode,
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("TAGS".to_owned()),
        Just("KEYS".to_owned()),
        Just("UNIQ_KEY".to_owned()),
        "[a-z]{1,3}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ]{1,12}",
        any::<String>().prop_map(|s| s
            .chars()
            .filter(|c| *c != '\u{1}' && *c != '\u{2}')
            .take(8)
            .collect::<String>()
            + "v")
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (key(), value()).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => key().prop_map(Op::Remove),
        1 => key().prop_map(Op::RetainNot),
        1 => Just(Op::Clear),
        1 => Just(Op::Clone),
        1 => Just(Op::Reencode),
    ]
}

fn model_encoding(model: &[(String, String)]) -> String {
    model
        .iter()
        .map(|(k, v)| format!("{k}\u{1}{v}\u{2}"))
        .collect()
}

fn check(p: &Properties, model: &[(String, String)]) -> Result<(), TestCaseError> {
    let pairs: Vec<(&str, &str)> = p.iter().collect();
    let want: Vec<(&str, &str)> = model
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    prop_assert_eq!(pairs, want);
    prop_assert_eq!(p.len(), model.len());
    let enc = model_encoding(model);
    prop_assert_eq!(encode_properties(p), enc.clone());
    prop_assert_eq!(p.encoded_len(), enc.len());
    let mut raw = Vec::new();
    p.encode_to(&mut raw);
    prop_assert_eq!(raw, enc.as_bytes().to_vec());
    if let Some(text) = p.as_encoded() {
        prop_assert_eq!(text, enc.as_str());
    }
    for (k, v) in model {
        prop_assert_eq!(p.get(k), Some(v.as_str()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn properties_behave_like_an_ordered_list(ops in proptest::collection::vec(op(), 0..40)) {
        let mut p = Properties::new();
        let mut model: Vec<(String, String)> = Vec::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => {
                    let old = model.iter_mut().find(|e| e.0 == k).map(|e| std::mem::replace(&mut e.1, v.clone()));
                    if old.is_none() {
                        model.push((k.clone(), v.clone()));
                    }
                    prop_assert_eq!(p.insert(k, v), old);
                }
                Op::Remove(k) => {
                    let old = model.iter().position(|e| e.0 == k).map(|i| model.remove(i).1);
                    prop_assert_eq!(p.remove(&k), old);
                }
                Op::RetainNot(k) => {
                    model.retain(|e| e.0 != k);
                    p.retain(|key, _| key != k);
                }
                Op::Clear => {
                    model.clear();
                    p.clear();
                }
                Op::Clone => p = p.clone(),
                Op::Reencode => {
                    p = decode_properties(&encode_properties(&p));
                    prop_assert!(p.as_encoded().is_some());
                }
            }
            check(&p, &model)?;
        }
        let owned: Vec<(String, String)> = p.into_iter().collect();
        prop_assert_eq!(owned, model);
    }

    /// Any input decodes to the same map whether it is kept as received or not.
    #[test]
    fn from_encoded_equals_decode(text in "[ab\u{0}\u{1}\u{2}\u{3}\u{80}]{0,40}") {
        let kept = Properties::from_encoded(text.clone());
        let decoded = decode_properties(&text);
        let a: Vec<_> = kept.iter().collect();
        let b: Vec<_> = decoded.iter().collect();
        prop_assert_eq!(a, b);
        // Kept as received exactly when the input is canonical.
        let canonical = encode_properties(&decoded) == text;
        prop_assert_eq!(kept.as_encoded() == Some(text.as_str()), canonical);
    }
}

#[test]
fn a_received_string_is_kept_and_given_back() {
    let wire = "TAGS\u{1}TagA\u{2}UNIQ_KEY\u{1}7F00000100002A9F\u{2}WAIT\u{1}true\u{2}";
    let p = decode_properties(wire);
    assert_eq!(p.as_encoded(), Some(wire));
    assert_eq!(p.get("UNIQ_KEY"), Some("7F00000100002A9F"));
    // Not canonical: a repeated name (last value wins, first position), a missing last
    // separator, an empty value.
    let p = decode_properties("A\u{1}1\u{2}B\u{1}2\u{2}A\u{1}3\u{2}C\u{1}\u{2}D\u{1}4");
    assert_eq!(
        p.iter().collect::<Vec<_>>(),
        [("A", "3"), ("B", "2"), ("D", "4")]
    );
    assert_eq!(p.as_encoded(), Some("A\u{1}3\u{2}B\u{1}2\u{2}D\u{1}4\u{2}"));
}

#[test]
fn replacing_a_value_in_a_loop_does_not_grow_the_map_without_bound() {
    let mut p = Properties::new();
    p.insert("K", "v");
    for i in 0..10_000 {
        p.insert("K", format!("value-{i}"));
    }
    assert_eq!(p.get("K"), Some("value-9999"));
    // Compacted along the way: the text stays within a small multiple of the live pairs.
    let mut clone = p.clone();
    assert_eq!(clone.encoded_len(), "K\u{1}value-9999\u{2}".len());
    clone.insert("L", "w");
    assert_eq!(
        encode_properties(&clone),
        "K\u{1}value-9999\u{2}L\u{1}w\u{2}"
    );
}
