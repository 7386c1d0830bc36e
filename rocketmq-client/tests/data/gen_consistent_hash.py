#!/usr/bin/env python3
"""Expected results of Java's AllocateMessageQueueConsistentHash, for tests/strategy.rs.

Mirrors the Java algorithm independently of the Rust code:
  * ConsistentHashRouter.MD5Hash: first 4 bytes of MD5(UTF-8 key), unsigned big-endian;
  * ring (TreeMap): for each cid in cidAll order, for i in 0..vnodes: ring[hash(cid-i)] = cid
    (a later put at an equal hash replaces the earlier one);
  * routeNode(mq.toString()): smallest ring key >= hash, else the smallest key overall.

Run: python3 gen_consistent_hash.py > consistent_hash_expected.json
"""
import bisect
import hashlib
import json


def md5_hash(key):
    return int.from_bytes(hashlib.md5(key.encode("utf-8")).digest()[:4], "big")


def mq_str(mq):
    topic, broker, qid = mq
    return "MessageQueue [topic=%s, brokerName=%s, queueId=%d]" % (topic, broker, qid)


def allocate_all(mqs, cids, vnodes):
    ring = {}
    for cid in cids:
        for i in range(vnodes):
            ring[md5_hash("%s-%d" % (cid, i))] = cid
    keys = sorted(ring)
    out = {cid: [] for cid in cids}
    if not keys:
        return out
    for mq in mqs:
        h = md5_hash(mq_str(mq))
        pos = bisect.bisect_left(keys, h)
        owner = ring[keys[pos]] if pos < len(keys) else ring[keys[0]]
        out[owner].append(list(mq))
    return out


def queues(topic, spec):
    return [(topic, b, i) for b, n in spec for i in range(n)]


CASES = [
    ("a4: 8 queues, 3 consumers", queues("TopicTest", [("broker-a", 4), ("broker-b", 4)]),
     ["10.0.0.1@1", "10.0.0.2@1", "10.0.0.3@1"], 10),
    ("8 queues, 5 consumers", queues("TopicTest", [("broker-a", 4), ("broker-b", 4)]),
     ["10.0.0.%d@1" % i for i in range(1, 6)], 10),
    ("16 queues, 4 consumers, 3 vnodes", queues("OrderTopic", [("broker-a", 8), ("broker-b", 8)]),
     ["192.168.1.10@4242#17", "192.168.1.11@4242#17", "192.168.1.12@77#1", "192.168.1.13@9#9"], 3),
    ("2 queues, 5 consumers", queues("TopicTest", [("broker-a", 2)]),
     ["c1", "c2", "c3", "c4", "c5"], 10),
    ("retry topic, 1 consumer", queues("%RETRY%cg", [("broker-a", 1)]), ["10.0.0.1@1"], 10),
    ("32 queues, 3 consumers, 1 vnode", queues("T", [("b0", 16), ("b1", 16)]),
     ["x@1", "y@2", "z@3"], 1),
]


def main():
    cases = []
    for name, mqs, cids, vnodes in CASES:
        cases.append({
            "name": name,
            "virtual_nodes": vnodes,
            "mq_all": [list(m) for m in mqs],
            "cid_all": cids,
            "expected": allocate_all(mqs, cids, vnodes),
        })
    hashes = {k: md5_hash(k) for k in ["", "10.0.0.1@1-0", mq_str(("TopicTest", "broker-a", 0))]}
    # One case per line keeps diffs readable.
    print('{"hashes": %s,\n "cases": [\n  %s\n]}' % (
        json.dumps(hashes, sort_keys=True),
        ",\n  ".join(json.dumps(c, sort_keys=True) for c in cases)))


if __name__ == "__main__":
    main()
