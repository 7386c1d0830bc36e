// The Java client side of the benchmark suite (bench/run.sh): the same rows as `rmqbench
// produce` / `rmqbench drain`, driven by Apache's own Java client, so every row can compare our
// client with Java's on the same broker and Java's client on our broker with Apache's.
// Prints one `RESULT key=value ...` line, in rmqbench's format, on stdout.
//
//   java -cp <classes>:<client classpath> JavaBench produce --namesrv H:P --group G --topic T
//        --mode sync|async|batch [--concurrency N] [--inflight N] [--batch N] [--duration S]
//        [--count N] [--warmup S] [--size BYTES]
//   java ... JavaBench drain --namesrv H:P --group G --topic T --count N [--timeout S]
//   java ... JavaBench hold --namesrv H:P --group G --prefix P --topics N [--queues 8] [--secs S]
//
// hold is `rmqbench hold`: one push consumer subscribed to N topics (P, or P_0 .. P_{N-1}),
// owning every queue, idle; it reports the time to own them and this JVM's CPU (% of a core)
// over --secs once they are held, its peak RSS and the heap in use (the JVM's RSS mostly
// reflects -Xms, so the heap is the comparable figure).
//
// cpu_us is this JVM's CPU time per message over the timed phase (JIT and GC included, which is
// what a Java service pays), after a warm-up of the same workload.

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendCallback;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageQueue;

public class JavaBench {
    static Map<String, String> opts(String[] a, int from) {
        Map<String, String> m = new HashMap<>();
        for (int i = from; i + 1 < a.length; i += 2) {
            if (!a[i].startsWith("--")) throw new IllegalArgumentException("expected --option, got " + a[i]);
            m.put(a[i].substring(2), a[i + 1]);
        }
        return m;
    }

    static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
            .getProcessCpuTime();
    }

    static long pct(long[] sorted, int n, double p) {
        if (n == 0) return 0;
        return sorted[Math.min(n - 1, (int) Math.floor(p * (n - 1)))];
    }

    /** Latency samples (µs), thread-safe enough for the rows: one array per sender thread. */
    static final class Lat {
        long[] v = new long[1 << 16];
        int n;
        void add(long us) {
            if (n == v.length) v = Arrays.copyOf(v, n * 2);
            v[n++] = us;
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) throw new IllegalArgumentException("usage: JavaBench produce|drain --option value ...");
        Map<String, String> o = opts(args, 1);
        switch (args[0]) {
            case "produce": produce(o); break;
            case "drain": drain(o); break;
            case "hold": hold(o); break;
            default: throw new IllegalArgumentException("unknown command " + args[0]);
        }
        System.exit(0);
    }

    static String need(Map<String, String> o, String k) {
        String v = o.get(k);
        if (v == null) throw new IllegalArgumentException("missing --" + k);
        return v;
    }

    static void produce(Map<String, String> o) throws Exception {
        String mode = o.getOrDefault("mode", "sync");
        int concurrency = Integer.parseInt(o.getOrDefault("concurrency", "1"));
        int inflight = Integer.parseInt(o.getOrDefault("inflight", "1"));
        int batch = Integer.parseInt(o.getOrDefault("batch", "32"));
        double secs = Double.parseDouble(o.getOrDefault("duration", "5"));
        long count = Long.parseLong(o.getOrDefault("count", String.valueOf(Long.MAX_VALUE)));
        double warmup = Double.parseDouble(o.getOrDefault("warmup", "2"));
        int size = Integer.parseInt(o.getOrDefault("size", "1024"));
        String topic = need(o, "topic");
        byte[] body = new byte[size];
        Arrays.fill(body, (byte) 'x');

        DefaultMQProducer p = new DefaultMQProducer(need(o, "group"));
        p.setNamesrvAddr(need(o, "namesrv"));
        p.setSendMsgTimeout(10_000);
        // Java's default compresses bodies over 4 KiB; 1 KiB rows never reach it (as ours).
        p.start();
        try {
            p.send(new Message(topic, "bench", body)); // route, connection
            if (warmup > 0) phase(p, mode, concurrency, inflight, batch, warmup, Long.MAX_VALUE, topic, body, false);
            phase(p, mode, concurrency, inflight, batch, secs, count, topic, body, true);
        } finally {
            p.shutdown();
        }
    }

    static void phase(DefaultMQProducer p, String mode, int concurrency, int inflight, int batch, double secs,
                      long count, String topic, byte[] body, boolean report) throws Exception {
        final long deadline = System.nanoTime() + (long) (secs * 1e9);
        final AtomicLong left = new AtomicLong(count);
        final AtomicLong done = new AtomicLong();
        final AtomicLong failed = new AtomicLong();
        final int per = mode.equals("batch") ? batch : 1;
        List<Lat> lats = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        long cpu0 = cpuNanos();
        long t0 = System.nanoTime();
        for (int w = 0; w < concurrency; w++) {
            Lat lat = new Lat();
            lats.add(lat);
            Thread t = new Thread(() -> {
                try {
                    if (mode.equals("sync")) {
                        while (System.nanoTime() < deadline && left.getAndAdd(-1) > 0) {
                            long s = System.nanoTime();
                            SendResult r = p.send(new Message(topic, "bench", body));
                            if (r.getSendStatus() == SendStatus.SEND_OK) done.incrementAndGet(); else failed.incrementAndGet();
                            lat.add((System.nanoTime() - s) / 1000);
                        }
                    } else {
                        Semaphore window = new Semaphore(inflight);
                        while (System.nanoTime() < deadline && left.getAndAdd(-per) >= per) {
                            window.acquire();
                            final long s = System.nanoTime();
                            SendCallback cb = new SendCallback() {
                                public void onSuccess(SendResult r) {
                                    done.addAndGet(per);
                                    window.release();
                                }
                                public void onException(Throwable e) {
                                    failed.addAndGet(per);
                                    window.release();
                                }
                            };
                            if (mode.equals("async")) {
                                p.send(new Message(topic, "bench", body), cb);
                            } else {
                                List<Message> msgs = new ArrayList<>(per);
                                for (int i = 0; i < per; i++) msgs.add(new Message(topic, "bench", body));
                                p.send(msgs, cb);
                            }
                        }
                        window.acquire(inflight); // the last replies
                    }
                } catch (Exception e) {
                    e.printStackTrace();
                    failed.incrementAndGet();
                }
            });
            t.start();
            threads.add(t);
        }
        for (Thread t : threads) t.join();
        double el = (System.nanoTime() - t0) / 1e9;
        long cpu = cpuNanos() - cpu0;
        if (!report) return;
        int n = 0;
        for (Lat l : lats) n += l.n;
        long[] all = new long[n];
        int k = 0;
        for (Lat l : lats) { System.arraycopy(l.v, 0, all, k, l.n); k += l.n; }
        Arrays.sort(all);
        long d = done.get();
        System.out.printf("RESULT rate=%.0f msgs=%d failed=%d secs=%.2f p50_us=%d p99_us=%d cpu_us=%.2f%n",
            d / el, d, failed.get(), el, pct(all, n, 0.5), pct(all, n, 0.99), cpu / 1e3 / Math.max(1, d));
    }

    static void drain(Map<String, String> o) throws Exception {
        long count = Long.parseLong(need(o, "count"));
        double timeout = Double.parseDouble(o.getOrDefault("timeout", "300"));
        final AtomicLong got = new AtomicLong();
        final AtomicLong first = new AtomicLong();
        final CountDownLatch all = new CountDownLatch(1);
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(need(o, "group"));
        c.setNamesrvAddr(need(o, "namesrv"));
        c.subscribe(need(o, "topic"), "*");
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        // The same batch sizes as `rmqbench drain`.
        c.setConsumeMessageBatchMaxSize(32);
        c.setPullBatchSize(32);
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            first.compareAndSet(0, System.nanoTime());
            if (got.addAndGet(msgs.size()) >= count) all.countDown();
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        long cpu0 = cpuNanos();
        long t0 = System.nanoTime();
        c.start();
        boolean complete = all.await((long) (timeout * 1000), TimeUnit.MILLISECONDS);
        long end = System.nanoTime();
        long cpu = cpuNanos() - cpu0;
        c.shutdown();
        long n = got.get();
        long f = first.get() == 0 ? end : first.get();
        double secs = (end - f) / 1e9;
        System.out.printf("RESULT rate=%.0f msgs=%d secs=%.2f total_secs=%.2f complete=%b cpu_us=%.2f%n",
            n / Math.max(secs, 1e-9), n, secs, (end - t0) / 1e9, complete, cpu / 1e3 / Math.max(1, n));
    }
    /** Peak resident set (VmHWM) of this JVM, MiB. */
    static double peakRssMb() {
        try {
            for (String l : Files.readAllLines(Paths.get("/proc/self/status"))) {
                if (l.startsWith("VmHWM:")) return Long.parseLong(l.replaceAll("[^0-9]", "")) / 1024.0;
            }
        } catch (Exception e) {
            // not Linux: reported as 0
        }
        return 0;
    }

    static void hold(Map<String, String> o) throws Exception {
        String prefix = need(o, "prefix");
        int topics = Integer.parseInt(o.getOrDefault("topics", "1"));
        int queues = Integer.parseInt(o.getOrDefault("queues", "8"));
        double secs = Double.parseDouble(o.getOrDefault("secs", "5"));
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(need(o, "group"));
        c.setNamesrvAddr(need(o, "namesrv"));
        for (int i = 0; i < topics; i++) c.subscribe(topics <= 1 ? prefix : prefix + "_" + i, "*");
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET);
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> ConsumeConcurrentlyStatus.CONSUME_SUCCESS);
        int want = topics * queues;
        long t0 = System.nanoTime();
        c.start();
        while (true) {
            int owned = 0;
            for (MessageQueue mq : c.getDefaultMQPushConsumerImpl().getRebalanceImpl().getProcessQueueTable().keySet()) {
                // The group's retry topic (subscribed by every push consumer) is not counted.
                if (!mq.getTopic().startsWith("%RETRY%")) owned++;
            }
            if (owned >= want) break;
            if (System.nanoTime() - t0 > 300_000_000_000L) throw new IllegalStateException("owns " + owned + " of " + want + " queues after 300 s");
            Thread.sleep(20);
        }
        double assign = (System.nanoTime() - t0) / 1e9;
        // Same warm-up as rmqbench: the first pulls go out and park before the idle cost is measured.
        Thread.sleep(2000);
        long cpu0 = cpuNanos();
        long w0 = System.nanoTime();
        Thread.sleep((long) (secs * 1000));
        long cpu = cpuNanos() - cpu0;
        double el = (System.nanoTime() - w0) / 1e9;
        Runtime rt = Runtime.getRuntime();
        double heap = (rt.totalMemory() - rt.freeMemory()) / 1048576.0;
        double rss = peakRssMb();
        c.shutdown();
        System.out.printf("RESULT topics=%d queues=%d assign_secs=%.2f idle_cpu_pct=%.2f rss_mb=%.0f heap_mb=%.0f%n",
            topics, want, assign, cpu / 1e9 * 100 / el, rss, heap);
    }
}
