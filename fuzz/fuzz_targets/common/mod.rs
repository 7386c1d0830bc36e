//! Shapes raw fuzzer bytes into remoting-level inputs (ext fields, commands), so the fuzzer
//! spends its time inside header and request handling instead of guessing valid frames.
#![allow(dead_code)]

use rocketmq_rs_remoting::protocol::ExtFields;

/// Every wire key a header of ours reads (grep of `header/*.rs`), plus keys real clients add.
pub const KEYS: &[&str] = &[
    "IS_SUB_CHANGE",
    "MSG_REGION",
    "TRACE_ON",
    "_UNIQUE_KEY_QUERY",
    "__ZONE_NAME",
    "a",
    "acceptStandardJsonOnly",
    "attributes",
    "b",
    "batch",
    "batchUniqId",
    "beginTimestamp",
    "bname",
    "bornHost",
    "bornTimestamp",
    "boundaryType",
    "brokerAddr",
    "brokerId",
    "brokerName",
    "c",
    "changed",
    "clientAddr",
    "clientID",
    "clientId",
    "clusterName",
    "commitLogOffset",
    "commitOffset",
    "commitOrRollback",
    "committed",
    "compressed",
    "confirmOffset",
    "consumerGroup",
    "d",
    "defaultTopic",
    "defaultTopicQueueNums",
    "delayLevel",
    "e",
    "electionPriority",
    "enableActingMaster",
    "endTimestamp",
    "epoch",
    "expressionType",
    "f",
    "flag",
    "forbiddenType",
    "force",
    "fromTransactionCheck",
    "g",
    "group",
    "groupSysFlag",
    "h",
    "haServerAddr",
    "heartbeatTimeoutMillis",
    "heartbeatTimeoutMills",
    "i",
    "indexLastUpdatePhyoffset",
    "indexLastUpdateTimestamp",
    "isForce",
    "j",
    "jstackEnable",
    "k",
    "key",
    "l",
    "m",
    "masterAddr",
    "maxMsgBytes",
    "maxMsgNums",
    "maxNum",
    "maxOffset",
    "maxReconsumeTimes",
    "minOffset",
    "msgId",
    "n",
    "namespace",
    "nextBeginOffset",
    "offset",
    "offsetDelta",
    "offsetMsgId",
    "order",
    "originMsgId",
    "originTopic",
    "perm",
    "producerGroup",
    "properties",
    "proxyFrowardClientId",
    "queueId",
    "queueOffset",
    "readQueueNums",
    "recallHandle",
    "reconsumeTimes",
    "requestSource",
    "setZeroIfNotFound",
    "storeHost",
    "storeTimestamp",
    "subVersion",
    "subscription",
    "suggestWhichBrokerId",
    "suspendTimeoutMillis",
    "sysFlag",
    "timestamp",
    "topic",
    "topicFilterType",
    "topicList",
    "topicSysFlag",
    "tranStateTableOffset",
    "transactionId",
    "unitMode",
    "value",
    "writeQueueNums",
    "AccessKey",
    "Signature",
];

/// Interesting numeric texts: boundaries of i32/i64, negatives, blanks, non-numbers.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "3",
    "4",
    "7",
    "8",
    "16",
    "255",
    "1024",
    "65535",
    "2147483647",
    "-2147483648",
    "2147483648",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    " 5 ",
    "",
    "true",
    "1.5",
    "1e3",
    "0x10",
    "TBW102",
    "%RETRY%g",
];

/// A little cursor over the fuzzer's bytes; running out yields zeros / empty slices.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    pub fn rest(&mut self) -> &'a [u8] {
        self.take(self.data.len())
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// A value: a dictionary number (high bit set) or up to 63 raw bytes as lossy UTF-8.
    pub fn value(&mut self) -> String {
        let b = self.byte();
        if b & 0x80 != 0 {
            NUMBERS[usize::from(b & 0x7f) % NUMBERS.len()].to_owned()
        } else {
            String::from_utf8_lossy(self.take(usize::from(b & 0x3f))).into_owned()
        }
    }

    /// Up to 15 ext fields: a dictionary key (or, for 0xff, a raw one) and a value each.
    pub fn ext_fields(&mut self) -> ExtFields {
        let n = self.byte() & 0x0f;
        let mut ext = ExtFields::new();
        for _ in 0..n {
            let k = self.byte();
            let key = if k == 0xff {
                let len = usize::from(self.byte() & 0x1f);
                String::from_utf8_lossy(self.take(len)).into_owned()
            } else {
                KEYS[usize::from(k) % KEYS.len()].to_owned()
            };
            let value = self.value();
            ext.insert(key, value);
        }
        ext
    }
}
