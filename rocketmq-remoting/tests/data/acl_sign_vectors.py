#!/usr/bin/env python3
"""Independent reimplementation of Apache RocketMQ's ACL 1.0 request signature
(AclClientRPCHook + AclUtils.combineRequestContent + AclUtils.calSignature), used to
produce acl_sign_vectors.json, which tests/acl.rs checks the Rust signer against.

Java algorithm: put AccessKey (and SecurityToken) into extFields; sort all ext fields but
Signature by key with String.compareTo (UTF-16 code-unit order); concatenate the values
(UTF-8) without separators; append the body; HMAC-SHA1 with the UTF-8 secret; Base64.

Run: python3 acl_sign_vectors.py > acl_sign_vectors.json
"""
import base64
import hashlib
import hmac
import json


def java_key(s):
    # Java String order is UTF-16 code-unit order.
    return s.encode("utf-16-be")


def sign(ext, body, access_key, secret, token=None):
    ext = dict(ext)
    ext["AccessKey"] = access_key
    if token is not None:
        ext["SecurityToken"] = token
    content = "".join(ext[k] for k in sorted((k for k in ext if k != "Signature"), key=java_key))
    data = content.encode("utf-8") + body
    return base64.b64encode(hmac.new(secret.encode("utf-8"), data, hashlib.sha1).digest()).decode()


CASES = [
    dict(name="route-query", code=105, ext={"topic": "TopicTest"}, body=b"",
         ak="RocketMQ", sk="12345678"),
    dict(name="send-v2", code=310,
         ext={"a": "pg", "b": "TopicTest", "c": "TBW102", "d": "4", "e": "0", "f": "0",
              "g": "1700000000000", "h": "0", "i": "TAGS\u0001TagA\u0002WAIT\u0001true\u0002",
              "j": "0", "k": "false", "m": "false", "n": "broker-a"},
         body=b"Hello RocketMQ", ak="RocketMQ", sk="12345678"),
    dict(name="pull-with-token", code=11,
         ext={"consumerGroup": "cg", "topic": "TopicTest", "queueId": "3", "queueOffset": "42",
              "maxMsgNums": "32", "sysFlag": "2", "commitOffset": "0", "suspendTimeoutMillis": "20000",
              "subscription": "*", "subVersion": "0", "expressionType": "TAG"},
         body=b"", ak="ak", sk="sk", token="sts-token"),
    dict(name="binary-body-empty-secret", code=10, ext={"topic": "T", "producerGroup": "pg"},
         body=bytes(range(256)), ak="", sk=""),
    dict(name="unicode-utf16-order", code=10,
         ext={"\uff5e": "bmp-high", "\U0001F600": "astral", "Zed": "h\u00e9llo w\u00f6rld \u2713"},
         body="\u00fcml\u00e4ut".encode("utf-8"), ak="\u8bbf\u95ee", sk="s\u00e9cret"),
    dict(name="existing-signature-ignored", code=34,
         ext={"Signature": "stale", "OnsChannel": "ALIYUN"}, body=b'{"clientID":"c"}',
         ak="ak", sk="sk"),
]


def main():
    out = []
    for c in CASES:
        out.append({
            "name": c["name"],
            "code": c["code"],
            "ext": c["ext"],
            "body_hex": c["body"].hex(),
            "access_key": c["ak"],
            "secret_key": c["sk"],
            "security_token": c.get("token"),
            "signature": sign(c["ext"], c["body"], c["ak"], c["sk"], c.get("token")),
        })
    print(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
