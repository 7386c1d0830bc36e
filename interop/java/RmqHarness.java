// Drives Apache's official Java client (rocketmq-client 4.9.x and the 5.x remoting client; the
// same API) for rocketmq-rs's interop tests (tests/java_interop.rs). Launched as a single source
// file: java -cp <client classpath> interop/java/RmqHarness.java <sub-command> -flag value ...
//
// Same sub-commands, flags and output as interop/go/main.go: one JSON object per line on stdout
// (started, sent, recv, reply, check, offset, error, done); the client logs to files under
// -Drocketmq.client.logRoot / -Drocketmq.log.root. Exit code 0 only when everything asked
// was done.

import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.rocketmq.client.consumer.*;
import org.apache.rocketmq.client.consumer.listener.*;
import org.apache.rocketmq.client.producer.*;
import org.apache.rocketmq.client.utils.MessageUtil;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.*;

public class RmqHarness {
    static final Object OUT = new Object();
    static volatile boolean failed = false;

    // ---------------------------------------------------------------------------------------
    // output

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    // Non-ASCII as JSON unicode escapes (surrogate pairs stay pairs, which JSON
                    // readers join): the JVM's stdout encoding follows the locale, which
                    // may not be UTF-8.
                    if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
            }
        }
        return b.append('"').toString();
    }

    static String json(Object v) {
        if (v == null) return "null";
        if (v instanceof String) return quote((String) v);
        if (v instanceof Number || v instanceof Boolean) return v.toString();
        if (v instanceof Collection) {
            StringBuilder b = new StringBuilder("[");
            boolean first = true;
            for (Object x : (Collection<?>) v) {
                if (!first) b.append(',');
                first = false;
                b.append(json(x));
            }
            return b.append(']').toString();
        }
        if (v instanceof Map) {
            StringBuilder b = new StringBuilder("{");
            boolean first = true;
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                if (!first) b.append(',');
                first = false;
                b.append(quote(String.valueOf(e.getKey()))).append(':').append(json(e.getValue()));
            }
            return b.append('}').toString();
        }
        return quote(v.toString());
    }

    static void emit(String ev, Map<String, Object> f) {
        f.put("ev", ev);
        String line = json(f);
        synchronized (OUT) {
            System.out.println(line);
            System.out.flush();
        }
    }

    static void emit(String ev) {
        emit(ev, new LinkedHashMap<>());
    }

    static void fail(String what, Throwable t) {
        String msg = what;
        if (t != null) {
            msg = what + ": " + t;
            for (Throwable c = t.getCause(); c != null; c = c.getCause()) msg += " / caused by " + c;
        }
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("what", msg);
        emit("error", f);
        failed = true;
    }

    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) s.append(String.format("%02x", x & 0xff));
        return s.toString();
    }

    static Map<String, Object> msgFields(MessageExt m) {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("topic", m.getTopic());
        f.put("tags", m.getTags() == null ? "" : m.getTags());
        f.put("keys", m.getKeys() == null ? "" : m.getKeys());
        f.put("props", new TreeMap<>(m.getProperties()));
        f.put("body", hex(m.getBody()));
        f.put("queue", m.getQueueId());
        f.put("broker", m.getBrokerName());
        f.put("offset", m.getQueueOffset());
        f.put("msgId", m.getMsgId());
        f.put("reconsumeTimes", m.getReconsumeTimes());
        f.put("bornTs", m.getBornTimestamp());
        f.put("storeTs", m.getStoreTimestamp());
        f.put("sysFlag", m.getSysFlag());
        return f;
    }

    // Every client waits up to 10 s for a NameServer or broker answer (3 s by default): the
    // tests start many JVMs at once on small machines.
    static <T extends org.apache.rocketmq.client.ClientConfig> T patient(T c) {
        c.setMqClientApiTimeout(10000);
        return c;
    }

    // ---------------------------------------------------------------------------------------
    // flags: -name value pairs

    static class Flags {
        final Map<String, String> m = new HashMap<>();

        Flags(String[] args, int from) {
            for (int i = from; i + 1 < args.length; i += 2) {
                if (!args[i].startsWith("-")) throw new IllegalArgumentException("expected a flag at " + args[i]);
                m.put(args[i].substring(1), args[i + 1]);
            }
            if ((args.length - from) % 2 != 0) throw new IllegalArgumentException("flag without value");
        }

        String s(String k, String d) { return m.getOrDefault(k, d); }
        int i(String k, int d) { return m.containsKey(k) ? Integer.parseInt(m.get(k)) : d; }
        long l(String k, long d) { return m.containsKey(k) ? Long.parseLong(m.get(k)) : d; }
        boolean b(String k) { return "true".equals(m.get(k)); }

        // Go-style durations: 90s, 1500ms, 2m.
        long millis(String k, long d) {
            String v = m.get(k);
            if (v == null) return d;
            if (v.endsWith("ms")) return Long.parseLong(v.substring(0, v.length() - 2));
            if (v.endsWith("s")) return (long) (Double.parseDouble(v.substring(0, v.length() - 1)) * 1000);
            if (v.endsWith("m")) return (long) (Double.parseDouble(v.substring(0, v.length() - 1)) * 60000);
            return Long.parseLong(v);
        }

        String ns() {
            String ns = m.get("ns");
            if (ns == null || ns.isEmpty()) throw new IllegalArgumentException("-ns is required");
            return ns;
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: RmqHarness produce|push|pull|poll|bytes -flag value ...");
            System.exit(2);
        }
        Flags f = new Flags(args, 1);
        boolean ok;
        switch (args[0]) {
            case "produce": ok = produce(f); break;
            case "push": ok = push(f); break;
            case "pull": ok = pull(f); break;
            case "poll": ok = poll(f); break;
            case "bytes": ok = bytes(f); break;
            default:
                System.err.println("unknown sub-command " + args[0]);
                System.exit(2);
                return;
        }
        // Client threads are not all daemons.
        System.exit(ok && !failed ? 0 : 1);
    }

    // ---------------------------------------------------------------------------------------
    // produce

    static byte[] body(String label, int idx, int size) {
        byte[] prefix = (label + ":" + idx + ":").getBytes(StandardCharsets.UTF_8);
        byte[] b = Arrays.copyOf(prefix, prefix.length + size);
        for (int j = 0; j < size; j++) b[prefix.length + j] = (byte) (idx * 7 + j);
        return b;
    }

    static String txOutcome(int idx) {
        switch (idx % 3) {
            case 0: return "commit";
            case 1: return "rollback";
            default: return "unknown";
        }
    }

    static Map<String, Object> sentFields(int idx, Message m, SendResult r, String mode) {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("idx", idx);
        f.put("topic", m.getTopic());
        f.put("tags", m.getTags());
        f.put("keys", m.getKeys());
        f.put("body", hex(m.getBody()));
        Map<String, String> props = new TreeMap<>();
        for (String k : new String[] {"idx", "mode", "src"}) props.put(k, m.getUserProperty(k));
        f.put("props", props);
        if (r == null) {
            f.put("status", "ONEWAY");
            return f;
        }
        f.put("status", r.getSendStatus().name());
        f.put("msgId", r.getMsgId());
        f.put("offsetMsgId", r.getOffsetMsgId());
        f.put("queue", r.getMessageQueue().getQueueId());
        f.put("broker", r.getMessageQueue().getBrokerName());
        f.put("offset", r.getQueueOffset());
        return f;
    }

    static boolean produce(Flags f) throws Exception {
        String mode = f.s("mode", "sync");
        String topic = f.s("topic", "");
        int count = f.i("count", 10);
        String tag = f.s("tag", "");
        String label = f.s("label", "java");
        int size = f.i("size", 64);
        int delayLevel = f.i("delay-level", 2);
        int shards = f.i("shards", 3);
        long ttl = f.millis("ttl", 15000);
        long timeout = f.millis("timeout", 60000);
        String src = System.getProperty("rmq.harness.src", "java");

        List<Message> msgs = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            Message m = new Message(topic, tag.isEmpty() ? "tag-" + (i % 3) : tag, label + "-" + i, body(label, i, size));
            m.putUserProperty("idx", Integer.toString(i));
            m.putUserProperty("mode", mode);
            m.putUserProperty("src", src);
            if (mode.equals("delay")) m.setDelayTimeLevel(delayLevel);
            msgs.add(m);
        }
        long started = System.currentTimeMillis();

        if (mode.equals("transaction")) {
            TransactionMQProducer p = patient(new TransactionMQProducer(f.s("group", "")));
            p.setNamesrvAddr(f.ns());
            p.setSendMsgTimeout(10000);
            Set<String> want = ConcurrentHashMap.newKeySet();
            for (int i = 0; i < count; i++) if (txOutcome(i).equals("unknown")) want.add(Integer.toString(i));
            Set<String> checked = ConcurrentHashMap.newKeySet();
            p.setTransactionListener(new TransactionListener() {
                public LocalTransactionState executeLocalTransaction(Message m, Object arg) {
                    switch (txOutcome(Integer.parseInt(m.getUserProperty("idx")))) {
                        case "commit": return LocalTransactionState.COMMIT_MESSAGE;
                        case "rollback": return LocalTransactionState.ROLLBACK_MESSAGE;
                        default: return LocalTransactionState.UNKNOW;
                    }
                }

                public LocalTransactionState checkLocalTransaction(MessageExt m) {
                    Map<String, Object> ev = msgFields(m);
                    ev.put("transactionId", m.getTransactionId());
                    emit("check", ev);
                    checked.add(m.getUserProperty("idx"));
                    return LocalTransactionState.COMMIT_MESSAGE;
                }
            });
            p.start();
            emit("started");
            try {
                for (int i = 0; i < count; i++) {
                    try {
                        TransactionSendResult r = p.sendMessageInTransaction(msgs.get(i), null);
                        Map<String, Object> ev = sentFields(i, msgs.get(i), r, mode);
                        ev.put("txState", r.getLocalTransactionState().name());
                        ev.put("outcome", txOutcome(i));
                        emit("sent", ev);
                    } catch (Exception e) {
                        fail("send " + i, e);
                    }
                }
                // The client heartbeats (registering its producer group, which the broker
                // needs to send check-backs) 1 s after start and then every 30 s, to the brokers
                // it knows; it knew none before the first send. Heartbeat now rather than
                // wait up to 30 s.
                p.getDefaultMQProducerImpl().getmQClientFactory().sendHeartbeatToAllBrokerWithLock();
                long deadline = started + timeout;
                while (!checked.containsAll(want) && System.currentTimeMillis() < deadline) Thread.sleep(50);
                if (!checked.containsAll(want)) fail("only " + checked.size() + " of " + want.size() + " check-backs before the timeout", null);
                // The client sends END_TRANSACTION after the check returns; stay up for it.
                else if (!want.isEmpty()) Thread.sleep(1500);
            } finally {
                p.shutdown();
            }
            Map<String, Object> done = new LinkedHashMap<>();
            done.put("ms", System.currentTimeMillis() - started);
            emit("done", done);
            return true;
        }

        // -trace true: message trace on, to RMQ_SYS_TRACE_TOPIC (the 3-argument constructor is
        // the one 4.9.x and 5.x both have).
        DefaultMQProducer p = patient(f.b("trace")
            ? new DefaultMQProducer(f.s("group", ""), true, null)
            : new DefaultMQProducer(f.s("group", "")));
        p.setNamesrvAddr(f.ns());
        p.setSendMsgTimeout(10000);
        p.setRetryTimesWhenSendFailed(2);
        p.start();
        emit("started");
        try {
            switch (mode) {
                case "sync":
                case "delay":
                    for (int i = 0; i < count; i++) {
                        try {
                            emit("sent", sentFields(i, msgs.get(i), p.send(msgs.get(i)), mode));
                        } catch (Exception e) {
                            fail("send " + i, e);
                        }
                    }
                    break;
                case "ordered": {
                    MessageQueueSelector byKey = (mqs, msg, arg) -> mqs.get(Math.floorMod(((String) arg).hashCode(), mqs.size()));
                    for (int i = 0; i < count; i++) {
                        try {
                            SendResult r = p.send(msgs.get(i), byKey, "k" + (i % shards));
                            emit("sent", sentFields(i, msgs.get(i), r, mode));
                        } catch (Exception e) {
                            fail("send " + i, e);
                        }
                    }
                    break;
                }
                case "async": {
                    CountDownLatch latch = new CountDownLatch(count);
                    for (int i = 0; i < count; i++) {
                        final int idx = i;
                        p.send(msgs.get(i), new SendCallback() {
                            public void onSuccess(SendResult r) {
                                emit("sent", sentFields(idx, msgs.get(idx), r, mode));
                                latch.countDown();
                            }

                            public void onException(Throwable e) {
                                fail("async send " + idx, e);
                                latch.countDown();
                            }
                        });
                    }
                    if (!latch.await(timeout, TimeUnit.MILLISECONDS)) fail("async sends did not complete", null);
                    break;
                }
                case "oneway":
                    for (int i = 0; i < count; i++) {
                        try {
                            p.sendOneway(msgs.get(i));
                            emit("sent", sentFields(i, msgs.get(i), null, mode));
                        } catch (Exception e) {
                            fail("oneway send " + i, e);
                        }
                    }
                    break;
                case "batch": {
                    try {
                        SendResult r = p.send(msgs);
                        for (int i = 0; i < count; i++) {
                            Map<String, Object> ev = sentFields(i, msgs.get(i), r, mode);
                            ev.put("batch", true);
                            emit("sent", ev);
                        }
                    } catch (Exception e) {
                        fail("batch send", e);
                    }
                    break;
                }
                case "request":
                    for (int i = 0; i < count; i++) {
                        try {
                            Message reply = p.request(msgs.get(i), ttl);
                            Map<String, Object> ev = sentFields(i, msgs.get(i), null, mode);
                            ev.put("status", "REQUEST");
                            emit("sent", ev);
                            Map<String, Object> rv = new LinkedHashMap<>();
                            rv.put("idx", i);
                            rv.put("body", hex(reply.getBody()));
                            rv.put("props", new TreeMap<>(reply.getProperties()));
                            emit("reply", rv);
                        } catch (Exception e) {
                            fail("request " + i, e);
                        }
                    }
                    break;
                default:
                    System.err.println("unknown -mode " + mode);
                    System.exit(2);
            }
        } finally {
            traceLinger(f);
            p.shutdown();
        }
        Map<String, Object> done = new LinkedHashMap<>();
        done.put("ms", System.currentTimeMillis() - started);
        emit("done", done);
        return true;
    }

    // ---------------------------------------------------------------------------------------
    // bytes: for each compression type (-types, default ZLIB,ZSTD,LZ4) a producer of its own
    // (the type is read from rocketmq.message.compressType when a producer is constructed, in
    // 4.9.8 as in 5.x) sends -count messages alternating a -size body (over -compress-over:
    // compressed) and a 64-byte one, with a unicode tag, two keys and unicode user properties;
    // then one batch of -count messages (never compressed). Same "sent" events as produce,
    // with every user property in props and the producer's type in "compressType".

    // Escapes, not literals: javac reads the source in the platform encoding.
    static final String UNI_KEY = "\u043a\u043b\u044e\u0447\u2713";
    static final String UNI_VALUE = "\u5024 \ud83d\ude80 \u00fc\u00e9 \"quoted\" ";

    static boolean bytes(Flags f) throws Exception {
        String topic = f.s("topic", "");
        String group = f.s("group", "");
        int count = f.i("count", 2);
        int size = f.i("size", 6000);
        int over = f.i("compress-over", 4096);
        String src = System.getProperty("rmq.harness.src", "java");
        long started = System.currentTimeMillis();
        int idx = 0;
        emit("started");
        for (String type : f.s("types", "ZLIB,ZSTD,LZ4").split(",")) {
            System.setProperty("rocketmq.message.compressType", type);
            DefaultMQProducer p = patient(new DefaultMQProducer(group + "_" + type));
            p.setNamesrvAddr(f.ns());
            p.setSendMsgTimeout(10000);
            p.setRetryTimesWhenSendFailed(2);
            p.setCompressMsgBodyOverHowmuch(over);
            p.start();
            try {
                for (int i = 0; i < count; i++, idx++) {
                    Message m = bytesMessage(topic, type, idx, i % 2 == 0 ? size : 64, src);
                    try {
                        Map<String, Object> ev = sentFields(idx, m, p.send(m), type);
                        ev.put("props", userProps(m));
                        ev.put("compressType", type);
                        emit("sent", ev);
                    } catch (Exception e) {
                        fail("send " + idx + " (" + type + ")", e);
                    }
                }
            } finally {
                p.shutdown();
            }
        }
        DefaultMQProducer p = patient(new DefaultMQProducer(group + "_batch"));
        p.setNamesrvAddr(f.ns());
        p.setSendMsgTimeout(10000);
        p.start();
        try {
            List<Message> batch = new ArrayList<>();
            for (int i = 0; i < count; i++) batch.add(bytesMessage(topic, "batch", idx + i, size, src));
            SendResult r = p.send(batch);
            for (Message m : batch) {
                Map<String, Object> ev = sentFields(idx, m, r, "batch");
                ev.put("props", userProps(m));
                ev.put("batch", true);
                // The result's id lists the whole batch; each message has its own.
                ev.put("msgId", MessageClientIDSetter.getUniqID(m));
                emit("sent", ev);
                idx++;
            }
        } catch (Exception e) {
            fail("batch send", e);
        } finally {
            traceLinger(f);
            p.shutdown();
        }
        Map<String, Object> done = new LinkedHashMap<>();
        done.put("ms", System.currentTimeMillis() - started);
        emit("done", done);
        return true;
    }

    static Message bytesMessage(String topic, String mode, int idx, int size, String src) {
        Message m = new Message(topic, "Tag\u2713-" + mode, "key-" + idx + " k\u00e9y-" + mode, body("bytes", idx, size));
        m.putUserProperty("idx", Integer.toString(idx));
        m.putUserProperty("mode", mode);
        m.putUserProperty("src", src);
        m.putUserProperty(UNI_KEY, UNI_VALUE + idx);
        return m;
    }

    // The user properties of m (everything but the client's own keys).
    static Map<String, String> userProps(Message m) {
        Map<String, String> props = new TreeMap<>();
        for (String k : new String[] {"idx", "mode", "src", UNI_KEY}) props.put(k, m.getUserProperty(k));
        return props;
    }

    // ---------------------------------------------------------------------------------------
    // push

    static MessageSelector selector(Flags f) {
        String expr = f.s("sel", "*");
        return "sql".equals(f.s("sel-type", "tag")) ? MessageSelector.bySql(expr) : MessageSelector.byTag(expr);
    }

    // MessageModel moved from org.apache.rocketmq.common.protocol.heartbeat (4.x) to
    // org.apache.rocketmq.remoting.protocol.heartbeat (5.x); one source serves both.
    @SuppressWarnings({"unchecked", "rawtypes"})
    static void setMessageModel(DefaultMQPushConsumer c, String name) throws Exception {
        for (java.lang.reflect.Method m : c.getClass().getMethods()) {
            if (m.getName().equals("setMessageModel") && m.getParameterCount() == 1) {
                m.invoke(c, Enum.valueOf((Class) m.getParameterTypes()[0], name));
                return;
            }
        }
        throw new IllegalStateException("no setMessageModel");
    }

    // 5.x-only setters (POP mode), called by name so one source compiles against 4.x too.
    static void callSetter(Object o, String name, Object value) throws Exception {
        for (java.lang.reflect.Method m : o.getClass().getMethods()) {
            if (m.getName().equals(name) && m.getParameterCount() == 1) {
                m.invoke(o, value);
                return;
            }
        }
        throw new IllegalStateException("this client has no " + name + " (POP needs a 5.x client)");
    }

    // The POP queues of topic in the consumer's rebalance (5.x), empty on 4.x.
    static Set<Integer> popQueues(DefaultMQPushConsumer c, String topic) {
        Set<Integer> out = new TreeSet<>();
        try {
            Object ri = c.getDefaultMQPushConsumerImpl().getRebalanceImpl();
            Map<?, ?> table = (Map<?, ?>) ri.getClass().getMethod("getPopProcessQueueTable").invoke(ri);
            for (Object k : table.keySet()) {
                MessageQueue mq = (MessageQueue) k;
                if (mq.getTopic().equals(topic)) out.add(mq.getQueueId());
            }
        } catch (ReflectiveOperationException e) {
            // 4.x: no POP.
        }
        return out;
    }

    static boolean push(Flags f) throws Exception {
        String group = f.s("group", "");
        String topic = f.s("topic", "");
        boolean orderly = f.b("orderly");
        int expect = f.i("expect", 0);
        int failTimes = f.i("fail-times", 0);
        int maxReconsume = f.i("max-reconsume", -1);
        long linger = f.millis("linger", 500);
        long timeout = f.millis("timeout", 60000);
        long replyDelay = f.millis("reply-delay", 0);
        // Time spent in the listener per message.
        long work = f.millis("sleep", 0);

        DefaultMQProducer replier = null;
        if (f.b("reply")) {
            replier = patient(new DefaultMQProducer(group + "-replier"));
            replier.setNamesrvAddr(f.ns());
            replier.start();
        }
        final DefaultMQProducer replyWith = replier;

        DefaultMQPushConsumer c = patient(f.b("trace")
            ? new DefaultMQPushConsumer(group, true, null)
            : new DefaultMQPushConsumer(group));
        c.setNamesrvAddr(f.ns());
        c.setConsumeMessageBatchMaxSize(1);
        c.setSuspendCurrentQueueTimeMillis(200);
        if (f.m.containsKey("instance")) c.setInstanceName(f.s("instance", ""));
        setMessageModel(c, "broadcasting".equals(f.s("model", "clustering")) ? "BROADCASTING" : "CLUSTERING");
        switch (f.s("from", "first")) {
            case "last": c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET); break;
            case "timestamp":
                c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_TIMESTAMP);
                c.setConsumeTimestamp(f.s("ts", ""));
                break;
            default: c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        }
        if (maxReconsume >= 0) c.setMaxReconsumeTimes(maxReconsume);
        // POP (5.x): -client-rebalance false lets the broker's consume mode (setConsumeMode)
        // switch a topic to POP; -pop-invisible and -pop-batch tune it.
        if (f.m.containsKey("client-rebalance")) callSetter(c, "setClientRebalance", f.b("client-rebalance"));
        if (f.m.containsKey("pop-invisible")) callSetter(c, "setPopInvisibleTime", f.millis("pop-invisible", 60000));
        if (f.m.containsKey("pop-batch")) callSetter(c, "setPopBatchNums", f.i("pop-batch", 32));

        AtomicInteger consumed = new AtomicInteger();
        CountDownLatch reached = new CountDownLatch(1);
        // One handler for both listener kinds: reports each delivery, replies, counts successes.
        java.util.function.Function<MessageExt, Boolean> handle = m -> {
            boolean ok = m.getReconsumeTimes() >= failTimes;
            Map<String, Object> ev = msgFields(m);
            ev.put("result", ok ? "SUCCESS" : (orderly ? "SUSPEND" : "RETRY_LATER"));
            if (orderly) ev.put("orderly", true);
            emit("recv", ev);
            if (work > 0) {
                try {
                    Thread.sleep(work);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            if (ok && replyWith != null && m.getProperty(MessageConst.PROPERTY_MESSAGE_REPLY_TO_CLIENT) != null) {
                try {
                    if (replyDelay > 0) Thread.sleep(replyDelay);
                    byte[] prefix = "reply:".getBytes(StandardCharsets.UTF_8);
                    byte[] body = Arrays.copyOf(prefix, prefix.length + m.getBody().length);
                    System.arraycopy(m.getBody(), 0, body, prefix.length, m.getBody().length);
                    Message reply = MessageUtil.createReplyMessage(m, body);
                    // The broker finds the requester by its producer heartbeat; until that
                    // arrived it answers "channel of <client> not found".
                    for (int attempt = 0; ; attempt++) {
                        try {
                            replyWith.send(reply);
                            break;
                        } catch (Exception e) {
                            if (attempt >= 20 || String.valueOf(e.getMessage()).indexOf("not found") < 0) throw e;
                            Thread.sleep(500);
                        }
                    }
                } catch (Exception e) {
                    fail("send reply", e);
                }
            }
            if (ok && consumed.incrementAndGet() == expect) reached.countDown();
            return ok;
        };
        c.subscribe(topic, selector(f));
        if (orderly) {
            c.registerMessageListener((MessageListenerOrderly) (msgs, ctx) -> {
                boolean ok = true;
                for (MessageExt m : msgs) ok &= handle.apply(m);
                return ok ? ConsumeOrderlyStatus.SUCCESS : ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT;
            });
        } else {
            c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
                boolean ok = true;
                for (MessageExt m : msgs) ok &= handle.apply(m);
                return ok ? ConsumeConcurrentlyStatus.CONSUME_SUCCESS : ConsumeConcurrentlyStatus.RECONSUME_LATER;
            });
        }
        try {
            c.start();
        } catch (Exception e) {
            fail("start", e);
            if (replier != null) replier.shutdown();
            return false;
        }
        emit("started");
        // Reports the queues this member owns whenever they change ("alloc" events), so a
        // test can wait for a rebalance to settle before it sends.
        Thread alloc = new Thread(() -> {
            Set<Integer> last = null;
            Set<Integer> lastPop = null;
            while (true) {
                Set<Integer> now = new TreeSet<>();
                c.getDefaultMQPushConsumerImpl().getRebalanceImpl().getProcessQueueTable().forEach((mq, pq) -> {
                    if (mq.getTopic().equals(topic) && !pq.isDropped()) now.add(mq.getQueueId());
                });
                Set<Integer> pop = popQueues(c, topic);
                if (!now.equals(last) || !pop.equals(lastPop)) {
                    Map<String, Object> ev = new LinkedHashMap<>();
                    ev.put("queues", new ArrayList<>(now));
                    ev.put("pop", new ArrayList<>(pop));
                    emit("alloc", ev);
                    last = now;
                    lastPop = pop;
                }
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        alloc.setDaemon(true);
        alloc.start();
        boolean ok = true;
        if (expect > 0) {
            if (reached.await(timeout, TimeUnit.MILLISECONDS)) {
                Thread.sleep(linger);
            } else {
                fail("consumed " + consumed.get() + " of " + expect + " before the timeout", null);
                ok = false;
            }
        } else {
            Thread.sleep(timeout);
        }
        traceLinger(f);
        c.shutdown();
        if (replier != null) replier.shutdown();
        Map<String, Object> done = new LinkedHashMap<>();
        done.put("consumed", consumed.get());
        emit("done", done);
        return ok;
    }

    // With -trace, the client's trace dispatcher sends its records to the trace topic
    // asynchronously, and shutdown() gives it only a short flush: on a loaded machine (CI) a
    // 4.9.8 consumer's last SubAfter records were missing from the trace topic after the JVM
    // exited. -trace-linger (default 3 s) gives them time to land before shutdown.
    static void traceLinger(Flags f) throws InterruptedException {
        if (f.b("trace")) Thread.sleep(f.millis("trace-linger", 3000));
    }

    // ---------------------------------------------------------------------------------------
    // pull: every queue from its first offset (or the offset for -ts) to its max offset.

    @SuppressWarnings("deprecation")
    static boolean pull(Flags f) throws Exception {
        String topic = f.s("topic", "");
        int expect = f.i("expect", 0);
        long ts = f.l("ts", 0);
        DefaultMQPullConsumer c = patient(new DefaultMQPullConsumer(f.s("group", "")));
        c.setNamesrvAddr(f.ns());
        c.start();
        emit("started");
        int got = 0;
        try {
            List<MessageQueue> mqs = new ArrayList<>(c.fetchSubscribeMessageQueues(topic));
            mqs.sort(Comparator.comparingInt(MessageQueue::getQueueId));
            for (MessageQueue mq : mqs) {
                long offset = 0;
                if (ts > 0) {
                    offset = c.searchOffset(mq, ts);
                    Map<String, Object> ev = new LinkedHashMap<>();
                    ev.put("queue", mq.getQueueId());
                    ev.put("kind", "timestamp");
                    ev.put("offset", offset);
                    emit("offset", ev);
                }
                while (true) {
                    PullResult r = c.pull(mq, "*", offset, 32);
                    if (r.getPullStatus() != PullStatus.FOUND) break;
                    for (MessageExt m : r.getMsgFoundList()) {
                        emit("recv", msgFields(m));
                        got++;
                    }
                    offset = r.getNextBeginOffset();
                    if (offset >= r.getMaxOffset()) break;
                }
                Map<String, Object> ev = new LinkedHashMap<>();
                ev.put("queue", mq.getQueueId());
                ev.put("kind", "end");
                ev.put("offset", offset);
                emit("offset", ev);
            }
        } catch (Exception e) {
            fail("pull", e);
        } finally {
            c.shutdown();
        }
        if (expect > 0 && got != expect) fail("pulled " + got + " messages, expected " + expect, null);
        Map<String, Object> done = new LinkedHashMap<>();
        done.put("consumed", got);
        emit("done", done);
        return true;
    }

    // ---------------------------------------------------------------------------------------
    // poll: the lite pull consumer. Phase 1 (subscribe) polls -expect messages and commits;
    // phase 2 (same group, assign) seeks -seek-queue to 0: exactly its messages come again.

    interface Want { boolean test(MessageExt m); }

    static int drain(DefaultLitePullConsumer c, int phase, int n, long deadline, Want want) {
        int got = 0;
        while (got < n && System.currentTimeMillis() < deadline) {
            for (MessageExt m : c.poll(1000)) {
                Map<String, Object> ev = msgFields(m);
                ev.put("phase", phase);
                emit("recv", ev);
                if (want.test(m)) got++;
                else fail("phase " + phase + ": unexpected message from queue " + m.getQueueId() + " offset " + m.getQueueOffset(), null);
            }
        }
        return got;
    }

    static boolean poll(Flags f) throws Exception {
        String group = f.s("group", "");
        String topic = f.s("topic", "");
        int expect = f.i("expect", 0);
        int seekQueue = f.i("seek-queue", -1);
        long deadline = System.currentTimeMillis() + f.millis("timeout", 60000);

        DefaultLitePullConsumer c = patient(new DefaultLitePullConsumer(group));
        c.setNamesrvAddr(f.ns());
        c.setAutoCommit(false);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(topic, "*");
        c.start();
        emit("started");
        Map<Integer, Integer> perQueue = new HashMap<>();
        Map<Integer, MessageQueue> queues = new HashMap<>();
        int got = drain(c, 1, expect, deadline, m -> {
            perQueue.merge(m.getQueueId(), 1, Integer::sum);
            queues.put(m.getQueueId(), new MessageQueue(m.getTopic(), m.getBrokerName(), m.getQueueId()));
            return true;
        });
        if (got < expect) {
            fail("polled " + got + " of " + expect + " before the timeout", null);
            c.shutdown();
            return false;
        }
        c.commitSync();
        for (Map.Entry<Integer, MessageQueue> e : queues.entrySet()) {
            Map<String, Object> ev = new LinkedHashMap<>();
            ev.put("queue", e.getKey());
            ev.put("kind", "committed");
            ev.put("offset", c.committed(e.getValue()));
            emit("offset", ev);
        }
        c.shutdown();

        if (seekQueue >= 0) {
            DefaultLitePullConsumer c2 = patient(new DefaultLitePullConsumer(group));
            c2.setNamesrvAddr(f.ns());
            c2.setAutoCommit(false);
            c2.start();
            try {
                Collection<MessageQueue> mqs = c2.fetchMessageQueues(topic);
                c2.assign(mqs);
                for (MessageQueue mq : mqs) if (mq.getQueueId() == seekQueue) c2.seek(mq, 0);
                int want = perQueue.getOrDefault(seekQueue, 0);
                int again = drain(c2, 2, want, deadline, m -> m.getQueueId() == seekQueue);
                if (again < want) fail("after the seek, queue " + seekQueue + " gave " + again + " of " + want + " messages again", null);
            } finally {
                c2.shutdown();
            }
        }
        Map<String, Object> done = new LinkedHashMap<>();
        done.put("consumed", got);
        emit("done", done);
        return true;
    }
}
