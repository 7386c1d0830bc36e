#!/usr/bin/env python3
"""A minimal stand-in NameServer + broker on one port, for testing the C++ client driver itself.

It is NOT a RocketMQ implementation: it answers just enough for a producer to send (route query,
SEND_MESSAGE, SEND_BATCH_MESSAGE, heartbeat, unregister) and records every request it receives.

Prints ``{"type":"listening","addr":"127.0.0.1:PORT"}`` first, then one JSON line per request:
``{"type":"request","code":..,"extFields":{..},"bodyLen":..}`` (plus ``body`` for heartbeats). Exits after --timeout seconds or
on stdin EOF. Standard library only.
"""

import argparse
import json
import socket
import struct
import sys
import threading
import time

LOCK = threading.Lock()


def emit(obj):
    with LOCK:
        sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
        sys.stdout.flush()


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def frame(header, body=b""):
    h = json.dumps(header).encode("utf-8")
    return struct.pack(">ii", 4 + len(h) + len(body), len(h)) + h + body


def serve(conn, addr, queues, state):
    try:
        while True:
            total = struct.unpack(">i", recv_exact(conn, 4))[0]
            if total < 4 or total > 16 * 1024 * 1024:
                return
            data = recv_exact(conn, total)
            hlen = struct.unpack(">i", data[:4])[0] & 0xFFFFFF
            req = json.loads(data[4 : 4 + hlen].decode("utf-8"))
            body = data[4 + hlen :]
            code = req.get("code")
            ext = req.get("extFields") or {}
            rec = {"type": "request", "code": code, "extFields": ext, "bodyLen": len(body), "flag": req.get("flag", 0)}
            if code in (34, 35, 38):  # JSON bodies worth seeing (heartbeat, ...)
                rec["body"] = body.decode("utf-8", errors="replace")
            emit(rec)
            rsp = {"code": 0, "flag": 1, "language": "JAVA", "opaque": req.get("opaque", 0), "version": 401}
            rbody = b""
            if code == 105:
                route = {
                    "queueDatas": [
                        {"brokerName": "fake-a", "readQueueNums": queues, "writeQueueNums": queues, "perm": 6, "topicSysFlag": 0}
                    ],
                    "brokerDatas": [{"cluster": "FakeCluster", "brokerName": "fake-a", "brokerAddrs": {"0": addr}}],
                }
                rbody = json.dumps(route).encode("utf-8")
            elif code in (10, 310, 320):
                qid = int(ext.get("queueId", ext.get("e", 0)))
                with LOCK:
                    off = state.setdefault(qid, 0)
                    state[qid] = off + 1
                rsp["extFields"] = {"msgId": "7F000001%08X%016X" % (0, off), "queueId": str(qid), "queueOffset": str(off)}
            if req.get("flag", 0) & 2:
                continue  # a real oneway request gets no answer
            conn.sendall(frame(rsp, rbody))
    except (EOFError, OSError, ValueError):
        pass
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--queues", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    addr = "127.0.0.1:%d" % srv.getsockname()[1]
    emit({"type": "listening", "addr": addr})
    state = {}

    def accept():
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=serve, args=(conn, addr, args.queues, state), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()

    def stdin_eof():
        try:
            while sys.stdin.buffer.read1(4096):
                pass
        except Exception:
            pass

    t = threading.Thread(target=stdin_eof, daemon=True)
    t.start()
    t.join(args.timeout)


if __name__ == "__main__":
    main()
