#!/usr/bin/env python3
"""Drive the official Apache RocketMQ C++ client (PyPI wheel ``rocketmq`` 0.4.4) as a test peer.

The wheel bundles ``librocketmq.so`` (rocketmq-client-cpp) and a thin ctypes wrapper. This script
uses that wrapper where it is sound and calls the library's C API directly where the wrapper is
lossy (binary bodies, consume status, pull queue ids, instance names, log level).

Output: one JSON object per line on stdout, flushed per line, each with a ``type``:

  started   the client started (role, pid, elapsedMs)
  send      one send result (index, status, msgId, offset, queueIndex/mqCount for orderly)
  message   one delivered message (push or pull)
  queues    the queues the pull consumer will read
  pull      a pull status change for one queue (pull consumer only)
  error     something failed (stage, error, message)
  summary   the last line: role, reason (done|timeout|error|signal|stdin-eof), counts, exitCode

Exit codes: 0 done (or stopped on request by stdin EOF); 1 timeout (not everything happened in time); 2 usage error; 3 client error
(start, send or pull failed); 4 internal error; 143 stopped by SIGTERM (after a clean shutdown).
A watchdog ends the process with ``os._exit`` if a C++ call blocks past the hard deadline
(timeout + shutdown grace), so the script never hangs a test.

Logs of the C++ client go to ``$HOME/logs/rocketmq-cpp/``: run it with HOME set to a temp dir
(the Rust helper does). Broadcasting consumers also keep offsets in ``$HOME/.rocketmq_offsets``.

Only the standard library and the ``rocketmq`` package are used.
"""

import argparse
import base64
import ctypes
import json
import os
import select
import signal
import socket
import sys
import threading
import time

EXIT_OK = 0
EXIT_TIMEOUT = 1
EXIT_CLIENT_ERROR = 3
EXIT_INTERNAL = 4
EXIT_SIGTERM = 143

SEND_STATUS_NAMES = {
    0: "SEND_OK",
    1: "FLUSH_DISK_TIMEOUT",
    2: "FLUSH_SLAVE_TIMEOUT",
    3: "SLAVE_NOT_AVAILABLE",
}

PULL_STATUS_NAMES = {
    0: "FOUND",
    1: "NO_NEW_MSG",
    2: "NO_MATCHED_MSG",
    3: "OFFSET_ILLEGAL",
    4: "BROKER_TIMEOUT",
}

LOG_LEVELS = {"fatal": 1, "error": 2, "warn": 3, "info": 4, "debug": 5, "trace": 6}

# The C API cannot list a message's properties, so a consumer asks for these by name (plus the
# keys given with --prop-key). System keys are those of MessageConst in Apache RocketMQ.
STANDARD_PROPERTY_KEYS = [
    "KEYS",
    "TAGS",
    "WAIT",
    "DELAY",
    "RETRY_TOPIC",
    "REAL_TOPIC",
    "REAL_QID",
    "TRAN_MSG",
    "PGROUP",
    "MIN_OFFSET",
    "MAX_OFFSET",
    "ORIGIN_MESSAGE_ID",
    "RECONSUME_TIME",
    "MAX_RECONSUME_TIMES",
    "CONSUME_START_TIME",
    "UNIQ_KEY",
    "MSG_REGION",
    "TRACE_ON",
    "SHARDING_KEY",
]


class Output(object):
    """Serialises JSON lines from the main thread, C++ callback threads and the watchdog."""

    def __init__(self):
        self._lock = threading.Lock()
        self._closed = False

    def emit(self, obj):
        line = json.dumps(obj, sort_keys=True, separators=(",", ":"))
        with self._lock:
            if self._closed:
                return False
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            return True

    def close_with(self, obj):
        """Writes the final line; later emits are dropped. Returns False if already closed."""
        line = json.dumps(obj, sort_keys=True, separators=(",", ":"))
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            return True


OUT = Output()


def hard_exit(code):
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


class Run(object):
    """Deadlines, stop requests and the watchdog shared by every subcommand."""

    def __init__(self, role, timeout, grace, stop_on_stdin_eof):
        self.role = role
        self.t0 = time.monotonic()
        self.deadline = self.t0 + timeout
        self.hard_deadline = self.deadline + grace
        self.grace = grace
        self.stop = threading.Event()
        self.stop_reason = None
        self.counts = {}
        self._rsock, wsock = socket.socketpair()
        wsock.setblocking(False)
        self._wsock = wsock
        # The C-level handler writes the signal number to the wakeup fd even while the main
        # thread is blocked inside a C++ call, so the watchdog sees SIGTERM at once.
        signal.set_wakeup_fd(wsock.fileno())
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        threading.Thread(target=self._watchdog, name="watchdog", daemon=True).start()
        if stop_on_stdin_eof:
            threading.Thread(target=self._stdin_watch, name="stdin", daemon=True).start()

    def elapsed_ms(self):
        return int((time.monotonic() - self.t0) * 1000)

    def request_stop(self, reason):
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stop.set()

    def _on_signal(self, signum, frame):
        self.request_stop("signal")

    def _stdin_watch(self):
        try:
            while sys.stdin.buffer.read1(4096):
                pass
        except Exception:  # closed or missing stdin counts as EOF
            pass
        self.request_stop("stdin-eof")

    def stop_outcome(self):
        """(reason, exit code) for a run that stopped early: SIGTERM gives 143, a requested stop
        (stdin EOF) 0, and a passed deadline 1."""
        if self.stop.is_set():
            return self.stop_reason, EXIT_SIGTERM if self.stop_reason == "signal" else EXIT_OK
        return "timeout", EXIT_TIMEOUT

    def _watchdog(self):
        exit_by = self.hard_deadline
        while True:
            now = time.monotonic()
            if now >= exit_by:
                break
            ready, _, _ = select.select([self._rsock], [], [], exit_by - now)
            if ready:
                try:
                    data = self._rsock.recv(64)
                except OSError:
                    data = b""
                if any(b in (signal.SIGTERM, signal.SIGINT) for b in bytearray(data)):
                    self.request_stop("signal")
                    exit_by = min(exit_by, time.monotonic() + self.grace)
        reason = self.stop_reason or "timeout"
        code = EXIT_SIGTERM if reason == "signal" else EXIT_TIMEOUT
        OUT.emit(
            {
                "type": "error",
                "stage": "watchdog",
                "error": "HardTimeout",
                "message": "a client call did not return in time; exiting without shutdown",
            }
        )
        self.finish(reason, code)

    def finish(self, reason, code):
        summary = {
            "type": "summary",
            "role": self.role,
            "reason": reason,
            "exitCode": code,
            # Everything asked for happened (a stop on request exits 0 but is not "ok").
            "ok": reason == "done" and code == EXIT_OK,
            "elapsedMs": self.elapsed_ms(),
        }
        summary.update(self.counts)
        OUT.close_with(summary)
        # os._exit skips the wrapper's __del__ methods, which would shut down and destroy the
        # clients a second time during interpreter teardown.
        hard_exit(code)


def import_rocketmq():
    try:
        from rocketmq import client, ffi, exceptions  # noqa: F401
    except Exception as exc:  # ImportError, or OSError when librocketmq.so cannot load
        OUT.emit(
            {
                "type": "error",
                "stage": "import",
                "error": type(exc).__name__,
                "message": str(exc),
            }
        )
        hard_exit(EXIT_CLIENT_ERROR)
    return client, ffi, exceptions


def error_event(stage, exc, **extra):
    ev = {
        "type": "error",
        "stage": stage,
        "error": type(exc).__name__,
        "message": str(exc) or "(the C++ client gave no error message)",
    }
    ev.update(extra)
    return ev


def decode_text(raw):
    if raw is None:
        return None
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    return raw


def message_record(dll, handle, prop_keys):
    """Reads every field the C API exposes while the message handle is still valid."""
    body = dll.GetMessageBody(handle) or b""
    try:
        body_text = body.decode("utf-8")
        body_field, encoding = body_text, "utf8"
    except UnicodeDecodeError:
        body_field, encoding = base64.b64encode(body).decode("ascii"), "base64"
    props = {}
    for key in prop_keys:
        val = dll.GetMessageProperty(handle, key.encode("utf-8"))
        if val:
            props[key] = decode_text(val)
    return {
        "type": "message",
        "topic": decode_text(dll.GetMessageTopic(handle)),
        "tags": decode_text(dll.GetMessageTags(handle)),
        "keys": decode_text(dll.GetMessageKeys(handle)),
        "msgId": decode_text(dll.GetMessageId(handle)),
        "queueId": dll.GetMessageQueueId(handle),
        "queueOffset": dll.GetMessageQueueOffset(handle),
        "commitLogOffset": dll.GetMessageCommitLogOffset(handle),
        "reconsumeTimes": dll.GetMessageReconsumeTimes(handle),
        "delayLevel": dll.GetMessageDelayTimeLevel(handle),
        "storeSize": dll.GetMessageStoreSize(handle),
        "bornTimestamp": dll.GetMessageBornTimestamp(handle),
        "storeTimestamp": dll.GetMessageStoreTimestamp(handle),
        "properties": props,
        "body": body_field,
        "bodyEncoding": encoding,
        # Bodies are read through a C string: the wrapper cuts them at the first NUL byte.
        "bodyLen": len(body),
    }


def set_credentials(setter, handle, args):
    if args.access_key is not None or args.secret_key is not None:
        status = setter(
            handle,
            (args.access_key or "").encode("utf-8"),
            (args.secret_key or "").encode("utf-8"),
            (args.channel or "").encode("utf-8"),
        )
        return status
    return 0


# ----------------------------------------------------------------------------------------------
# produce


def build_body(args, index):
    text = "%s-%d" % (args.body_prefix, index)
    raw = text.encode("utf-8")
    if args.binary:
        # Every byte value except NUL after the text: exercises non-UTF-8 bodies end to end
        # (NUL is left out because the consumer side of the wrapper stops at it).
        raw += bytes(bytearray((index + j) % 255 + 1 for j in range(64)))
    if args.body_size is not None and len(raw) < args.body_size:
        raw += b"x" * (args.body_size - len(raw))
    return raw


def expand(template, index):
    return None if template is None else template.replace("{i}", str(index))


def cmd_produce(args):
    run = Run("producer", args.timeout, args.shutdown_grace, args.stop_on_stdin_eof)
    client, ffi, exceptions = import_rocketmq()
    dll = ffi.dll
    run.counts = {"sent": 0, "failed": 0, "requested": args.count}
    producer = client.Producer(args.group)
    try:
        exceptions.ffi_check(dll.SetProducerNameServerAddress(producer._handle, args.namesrv.encode()))
        exceptions.ffi_check(dll.SetProducerSendMsgTimeout(producer._handle, args.send_timeout_ms))
        if args.instance:
            exceptions.ffi_check(dll.SetProducerInstanceName(producer._handle, args.instance.encode()))
        if args.log_level:
            exceptions.ffi_check(dll.SetProducerLogLevel(producer._handle, LOG_LEVELS[args.log_level]))
        if args.compress_over is not None:
            exceptions.ffi_check(
                dll.SetProducerCompressMsgBodyOverHowmuch(producer._handle, args.compress_over)
            )
        if args.max_message_size is not None:
            exceptions.ffi_check(dll.SetProducerMaxMessageSize(producer._handle, args.max_message_size))
        exceptions.ffi_check(
            set_credentials(dll.SetProducerSessionCredentials, producer._handle, args)
        )
        producer.start()
    except Exception as exc:
        OUT.emit(error_event("start", exc))
        run.finish("error", EXIT_CLIENT_ERROR)
    OUT.emit({"type": "started", "role": "producer", "pid": os.getpid(), "elapsedMs": run.elapsed_ms()})

    def make_message(index):
        msg = client.Message(args.topic)
        body = build_body(args, index)
        exceptions.ffi_check(dll.SetByteMessageBody(msg._handle, body, len(body)))
        if args.tag is not None:
            msg.set_tags(expand(args.tag, index))
        if args.keys is not None:
            msg.set_keys(expand(args.keys, index))
        for kv in args.prop:
            key, _, value = kv.partition("=")
            msg.set_property(key, expand(value, index))
        if args.delay_level is not None:
            msg.set_delay_time_level(args.delay_level)
        return msg

    selected = {}

    def selector(mq_size, _msg, arg):
        key = ctypes.cast(arg, ctypes.POINTER(ctypes.c_int))[0]
        chosen = key % mq_size
        selected["queueIndex"] = chosen
        selected["mqCount"] = mq_size
        return chosen

    reason, code = "done", EXIT_OK
    index = 0
    while index < args.count:
        if run.stop.is_set() or time.monotonic() >= run.deadline:
            reason, code = run.stop_outcome()
            break
        started_at = time.monotonic()
        try:
            if args.mode == "batch":
                indices = list(range(index, min(index + args.batch_size, args.count)))
                msgs = [make_message(i) for i in indices]
                res = producer.send_batch(msgs)
                ev = {
                    "type": "send",
                    "index": indices[0],
                    "indices": indices,
                    "status": SEND_STATUS_NAMES.get(int(res.status), str(int(res.status))),
                    "msgId": res.msg_id,
                    "offset": res.offset,
                }
            else:
                indices = [index]
                msg = make_message(index)
                if args.mode == "sync":
                    res = producer.send_sync(msg)
                    ev = {
                        "type": "send",
                        "index": index,
                        "status": SEND_STATUS_NAMES.get(int(res.status), str(int(res.status))),
                        "msgId": res.msg_id,
                        "offset": res.offset,
                    }
                elif args.mode == "oneway":
                    producer.send_oneway(msg)
                    ev = {"type": "send", "index": index, "status": "ONEWAY"}
                else:
                    if args.shard_key is not None:
                        key = args.shard_key
                    elif args.queues is not None:
                        key = index % args.queues
                    else:
                        key = index
                    selected.clear()
                    res = producer.send_orderly(msg, key, retry_times=args.retry_times, queue_selector=selector)
                    ev = {
                        "type": "send",
                        "index": index,
                        "shardingKey": key,
                        "status": SEND_STATUS_NAMES.get(int(res.status), str(int(res.status))),
                        "msgId": res.msg_id,
                        "offset": res.offset,
                    }
                    ev.update(selected)
        except Exception as exc:
            run.counts["failed"] += len(indices) if args.mode == "batch" else 1
            OUT.emit(error_event("send", exc, index=index))
            index += len(indices)
            if not args.continue_on_error:
                reason, code = "error", EXIT_CLIENT_ERROR
                break
            continue
        ev["elapsedMs"] = int((time.monotonic() - started_at) * 1000)
        OUT.emit(ev)
        run.counts["sent"] += len(indices)
        index += len(indices)
        if args.interval_ms:
            run.stop.wait(args.interval_ms / 1000.0)
    if code == EXIT_OK and run.counts["failed"]:
        code = EXIT_CLIENT_ERROR
        reason = "error"
    try:
        producer.shutdown()
    except Exception as exc:
        OUT.emit(error_event("shutdown", exc))
    run.finish(reason, code)


# ----------------------------------------------------------------------------------------------
# push


def cmd_push(args):
    run = Run("push", args.timeout, args.shutdown_grace, args.stop_on_stdin_eof)
    client, ffi, exceptions = import_rocketmq()
    dll = ffi.dll
    prop_keys = STANDARD_PROPERTY_KEYS + [k for k in args.prop_key if k not in STANDARD_PROPERTY_KEYS]
    state = {"consumed": 0, "deliveries": 0, "reconsumeLater": 0}
    lock = threading.Lock()
    reached = threading.Event()
    run.counts = state

    model = ffi.MessageModel.BROADCASTING if args.model == "broadcasting" else ffi.MessageModel.CLUSTERING
    consumer = client.PushConsumer(args.group, orderly=args.orderly, message_model=model)

    def on_message(_consumer, handle):
        try:
            rec = message_record(dll, handle, prop_keys)
            later = rec["reconsumeTimes"] < args.fail_times
            rec["status"] = "RECONSUME_LATER" if later else "CONSUME_SUCCESS"
            with lock:
                state["deliveries"] += 1
                rec["seq"] = state["deliveries"]
                if later:
                    state["reconsumeLater"] += 1
                else:
                    state["consumed"] += 1
                done = state["consumed"] >= args.count
            OUT.emit(rec)
            if done:
                reached.set()
            return 1 if later else 0
        except Exception as exc:  # never let an exception cross into C++
            OUT.emit(error_event("consume", exc))
            return 1

    try:
        exceptions.ffi_check(dll.SetPushConsumerNameServerAddress(consumer._handle, args.namesrv.encode()))
        if args.instance:
            consumer.set_instance_name(args.instance)
        if args.thread_count is not None:
            consumer.set_thread_count(args.thread_count)
        if args.batch_max_size is not None:
            consumer.set_message_batch_max_size(args.batch_max_size)
        if args.log_level:
            exceptions.ffi_check(dll.SetPushConsumerLogLevel(consumer._handle, LOG_LEVELS[args.log_level]))
        exceptions.ffi_check(set_credentials(dll.SetPushConsumerSessionCredentials, consumer._handle, args))
        exceptions.ffi_check(dll.Subscribe(consumer._handle, args.topic.encode(), args.expr.encode()))
        # Registered directly: the wrapper's subscribe() turns a raising callback into
        # CONSUME_SUCCESS, and we need to answer RECONSUME_LATER on purpose.
        consumer._register_callback(on_message)
        consumer.start()
    except Exception as exc:
        OUT.emit(error_event("start", exc))
        run.finish("error", EXIT_CLIENT_ERROR)
    OUT.emit({"type": "started", "role": "push", "pid": os.getpid(), "elapsedMs": run.elapsed_ms()})

    reason, code = "timeout", EXIT_TIMEOUT
    while True:
        # --count 0: consume until stopped (stdin EOF or a signal) or the deadline.
        if args.count > 0 and reached.is_set():
            reason, code = "done", EXIT_OK
            break
        if run.stop.is_set() or time.monotonic() >= run.deadline:
            reason, code = run.stop_outcome()
            break
        reached.wait(0.05)
    if code == EXIT_OK and args.linger > 0:
        # Keep consuming to expose duplicates or extra deliveries.
        run.stop.wait(args.linger)
    try:
        consumer.shutdown()
    except Exception as exc:
        OUT.emit(error_event("shutdown", exc))
    run.finish(reason, code)


# ----------------------------------------------------------------------------------------------
# pull


def cmd_pull(args):
    run = Run("pull", args.timeout, args.shutdown_grace, args.stop_on_stdin_eof)
    client, ffi, exceptions = import_rocketmq()
    dll = ffi.dll
    prop_keys = STANDARD_PROPERTY_KEYS + [k for k in args.prop_key if k not in STANDARD_PROPERTY_KEYS]
    state = {"consumed": 0, "pulls": 0}
    run.counts = state

    consumer = client.PullConsumer(args.group)
    try:
        exceptions.ffi_check(dll.SetPullConsumerNameServerAddress(consumer._handle, args.namesrv.encode()))
        if args.log_level:
            exceptions.ffi_check(dll.SetPullConsumerLogLevel(consumer._handle, LOG_LEVELS[args.log_level]))
        exceptions.ffi_check(set_credentials(dll.SetPullConsumerSessionCredentials, consumer._handle, args))
        consumer.start()
    except Exception as exc:
        OUT.emit(error_event("start", exc))
        run.finish("error", EXIT_CLIENT_ERROR)
    OUT.emit({"type": "started", "role": "pull", "pid": os.getpid(), "elapsedMs": run.elapsed_ms()})

    def stopped():
        return run.stop.is_set() or time.monotonic() >= run.deadline

    def shutdown_and_finish(reason, code):
        try:
            consumer.shutdown()
        except Exception as exc:
            OUT.emit(error_event("shutdown", exc))
        run.finish(reason, code)

    # The route may appear only after the broker registered: retry until queues show up.
    queues = []
    mq_array = None
    while not stopped():
        mq_ptr = ctypes.POINTER(ffi._CMessageQueue)()
        size = ctypes.c_int()
        try:
            exceptions.ffi_check(
                dll.FetchSubscriptionMessageQueues(
                    consumer._handle, args.topic.encode(), ctypes.pointer(mq_ptr), ctypes.pointer(size)
                )
            )
        except Exception as exc:
            OUT.emit(error_event("fetch-queues", exc))
            if not args.retry_fetch:
                shutdown_and_finish("error", EXIT_CLIENT_ERROR)
            run.stop.wait(0.5)
            continue
        if size.value > 0:
            mq_array = mq_ptr
            queues = [mq_ptr[i] for i in range(size.value)]
            break
        if mq_ptr:
            dll.ReleaseSubscriptionMessageQueue(mq_ptr)
        run.stop.wait(0.5)
    if not queues:
        shutdown_and_finish(*run.stop_outcome())
    OUT.emit(
        {
            "type": "queues",
            "queues": [
                {"topic": decode_text(q.topic), "brokerName": decode_text(q.brokerName), "queueId": q.queueId}
                for q in queues
            ],
        }
    )

    offsets = [args.from_offset] * len(queues)
    last_status = [None] * len(queues)
    reason, code = None, None
    while reason is None:
        progressed = False
        for i, mq in enumerate(queues):
            if stopped():
                reason, code = run.stop_outcome()
                break
            res = dll.Pull(consumer._handle, ctypes.pointer(mq), args.expr.encode(), offsets[i], args.max_num)
            state["pulls"] += 1
            status = PULL_STATUS_NAMES.get(res.pullStatus, str(res.pullStatus))
            key = (status, res.nextBeginOffset)
            if key != last_status[i]:
                last_status[i] = key
                OUT.emit(
                    {
                        "type": "pull",
                        "queueId": mq.queueId,
                        "brokerName": decode_text(mq.brokerName),
                        "offset": offsets[i],
                        "status": status,
                        "nextBeginOffset": res.nextBeginOffset,
                        "minOffset": res.minOffset,
                        "maxOffset": res.maxOffset,
                        "found": res.size if res.pullStatus == 0 else 0,
                    }
                )
            if res.pullStatus == 0:
                for j in range(int(res.size)):
                    rec = message_record(dll, res.msgFoundList[j], prop_keys)
                    state["consumed"] += 1
                    rec["seq"] = state["consumed"]
                    OUT.emit(rec)
            if res.pullStatus != 4 and res.nextBeginOffset != offsets[i]:
                offsets[i] = res.nextBeginOffset
                progressed = True
            dll.ReleasePullResult(res)
            if args.count and state["consumed"] >= args.count:
                reason, code = "done", EXIT_OK
                break
        if reason is None and args.count == 0:
            reason, code = "done", EXIT_OK
        if reason is None and not progressed:
            run.stop.wait(0.1)
    if mq_array:
        dll.ReleaseSubscriptionMessageQueue(mq_array)
    shutdown_and_finish(reason, code)


# ----------------------------------------------------------------------------------------------


def add_common(p):
    p.add_argument("--namesrv", required=True, help="NameServer address host:port (';' separates several)")
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True, help="producer or consumer group")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds for the whole run (default 30)")
    p.add_argument(
        "--shutdown-grace",
        type=float,
        default=15.0,
        help="seconds allowed past --timeout for shutdown before a hard exit (default 15)",
    )
    p.add_argument(
        "--stop-on-stdin-eof",
        action="store_true",
        help="shut down cleanly when stdin reaches EOF (how the Rust helper stops a run)",
    )
    p.add_argument("--access-key")
    p.add_argument("--secret-key")
    p.add_argument("--channel", default="ALIYUN", help="session credentials channel (default ALIYUN)")
    p.add_argument("--log-level", choices=sorted(LOG_LEVELS), help="C++ client log level")


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def property_arg(text):
    key, sep, _ = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError("expected KEY=VALUE")
    return text


def parser():
    top = argparse.ArgumentParser(
        prog="cpp_client.py",
        description="Run the official RocketMQ C++ client (PyPI rocketmq 0.4.4) and print JSON lines.",
    )
    sub = top.add_subparsers(dest="command")
    sub.required = True

    p = sub.add_parser("produce", help="send COUNT messages")
    add_common(p)
    p.add_argument("--count", type=non_negative_int, required=True)
    p.add_argument("--mode", choices=["sync", "oneway", "orderly", "batch"], default="sync")
    p.add_argument("--tag", help="message tag; {i} is replaced by the message index")
    p.add_argument("--keys", help="message keys (space separated); {i} is replaced by the index")
    p.add_argument("--prop", action="append", default=[], type=property_arg, help="user property KEY=VALUE ({i} expands)")
    p.add_argument("--body-prefix", default="msg", help="body is PREFIX-INDEX (default msg)")
    p.add_argument("--body-size", type=non_negative_int, help="pad bodies with 'x' to this many bytes")
    p.add_argument("--binary", action="store_true", help="append 64 non-UTF-8 bytes (no NUL) to each body")
    p.add_argument("--queues", type=positive_int, help="orderly: sharding key = index %% QUEUES")
    p.add_argument("--shard-key", type=int, help="orderly: one fixed sharding key for all messages")
    p.add_argument("--retry-times", type=non_negative_int, default=3, help="orderly: retries (default 3)")
    p.add_argument("--batch-size", type=positive_int, default=4, help="batch: messages per batch (default 4)")
    p.add_argument("--delay-level", type=int, help="delay time level (1..18)")
    p.add_argument("--instance", help="producer instance name")
    p.add_argument("--send-timeout-ms", type=positive_int, default=3000, help="send timeout (default 3000)")
    p.add_argument("--compress-over", type=non_negative_int, help="compress bodies over this many bytes (C++ default 4096)")
    p.add_argument("--max-message-size", type=positive_int)
    p.add_argument("--interval-ms", type=non_negative_int, default=0, help="pause between sends")
    p.add_argument("--continue-on-error", action="store_true", help="keep sending after a failed send")
    p.set_defaults(func=cmd_produce)

    p = sub.add_parser("push", help="consume COUNT messages with the push consumer")
    add_common(p)
    p.add_argument("--expr", default="*", help="tag expression (default *)")
    p.add_argument("--model", choices=["clustering", "broadcasting"], default="clustering")
    p.add_argument(
        "--count", type=non_negative_int, required=True, help="successful consumes to wait for (0: until stopped)"
    )
    p.add_argument("--instance", help="consumer instance name (distinct per process in one group)")
    p.add_argument("--orderly", action="store_true", help="orderly listener (locks queues on the broker)")
    p.add_argument("--thread-count", type=positive_int)
    p.add_argument("--batch-max-size", type=positive_int)
    p.add_argument(
        "--fail-times",
        type=non_negative_int,
        default=0,
        help="answer RECONSUME_LATER while a message's reconsumeTimes is below this",
    )
    p.add_argument("--linger", type=float, default=0.0, help="seconds to keep consuming after COUNT")
    p.add_argument("--prop-key", action="append", default=[], help="user property to report (repeatable)")
    p.set_defaults(func=cmd_push)

    p = sub.add_parser("pull", help="consume COUNT messages with the pull consumer")
    add_common(p)
    p.add_argument("--expr", default="*", help="tag expression (default *)")
    p.add_argument("--count", type=non_negative_int, required=True)
    p.add_argument("--max-num", type=positive_int, default=32, help="messages per pull (default 32)")
    p.add_argument("--from-offset", type=non_negative_int, default=0, help="start offset of every queue")
    p.add_argument("--retry-fetch", action="store_true", help="retry when fetching the queues fails")
    p.add_argument("--prop-key", action="append", default=[], help="user property to report (repeatable)")
    p.set_defaults(func=cmd_pull)
    return top


def main():
    args = parser().parse_args()
    try:
        args.func(args)
    except SystemExit:
        raise
    except BaseException as exc:  # a bug here: report it as a line, never hang
        OUT.emit(error_event("internal", exc))
        OUT.close_with({"type": "summary", "role": args.command, "reason": "error", "exitCode": EXIT_INTERNAL, "ok": False})
        hard_exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
