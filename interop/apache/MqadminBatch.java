import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;

/**
 * Runs many `mqadmin` commands in one JVM, so a test pays the JVM start and class loading
 * once instead of once per command (about 5 s of CPU each on a small machine).
 *
 * Reads one command a line from standard input: `ID TAB TIMEOUT_SECONDS TAB ARG TAB ARG ...`,
 * runs `MQAdminStartup.main0(args, null)` (what the `mqadmin` script runs) in a thread of its
 * own, and prints to standard output:
 *
 *   @@MQADMIN-BEGIN ID
 *   ...everything the command printed to System.out and System.err...
 *   @@MQADMIN-END ID MILLIS OK|TIMEOUT
 *
 * Commands run one at a time: `main0` keeps the NameServer address in a system property.
 * Output is routed per thread (inherited by the threads a command starts), so a command that
 * overruns its timeout cannot write into the next command's output. The tools classes are
 * found by reflection, so one source serves every tools version; it needs no compiling
 * beforehand (`java -cp TOOLS_CLASSPATH MqadminBatch.java`).
 */
public class MqadminBatch {
    private static final InheritableThreadLocal<ByteArrayOutputStream> SINK = new InheritableThreadLocal<>();

    /**
     * 5.x tools: the admin client's shutdown joins its stopped NettyEventExecutor thread, which
     * only notices the stop when its 3 s poll of an empty event queue times out, so most
     * commands would end 3 s late. While `cmd` is in that join, interrupt those threads: their
     * loop catches the interrupt and, being stopped, exits. The output is unchanged.
     */
    private static void wakeIdleEventExecutors(Thread cmd) {
        boolean joining = false;
        for (StackTraceElement e : cmd.getStackTrace()) {
            if (e.getClassName().endsWith("NettyRemotingClient") && e.getMethodName().equals("shutdown")) {
                joining = true;
                break;
            }
        }
        if (!joining) {
            return;
        }
        for (Thread other : Thread.getAllStackTraces().keySet()) {
            if (other.getName().startsWith("NettyEventExecutor")) {
                other.interrupt();
            }
        }
    }

    public static void main(String[] args) throws Exception {
        PrintStream realOut = System.out;
        PrintStream realErr = System.err;
        OutputStream routed = new OutputStream() {
            @Override
            public void write(int b) {
                ByteArrayOutputStream s = SINK.get();
                if (s != null) {
                    synchronized (s) {
                        s.write(b);
                    }
                } else {
                    realErr.write(b);
                }
            }

            @Override
            public void write(byte[] b, int off, int len) {
                ByteArrayOutputStream s = SINK.get();
                if (s != null) {
                    synchronized (s) {
                        s.write(b, off, len);
                    }
                } else {
                    realErr.write(b, off, len);
                }
            }
        };
        PrintStream capture = new PrintStream(routed, true, "UTF-8");
        System.setOut(capture);
        System.setErr(capture);

        Class<?> startup = Class.forName("org.apache.rocketmq.tools.command.MQAdminStartup");
        Class<?> hook = Class.forName("org.apache.rocketmq.remoting.RPCHook");
        Method main0 = startup.getMethod("main0", String[].class, hook);

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) {
                continue;
            }
            String[] parts = line.split("\t", -1);
            String id = parts[0];
            long timeoutMs = Long.parseLong(parts[1]) * 1000L;
            String[] cmd = new String[parts.length - 2];
            System.arraycopy(parts, 2, cmd, 0, cmd.length);

            ByteArrayOutputStream sink = new ByteArrayOutputStream();
            Thread t = new Thread(() -> {
                SINK.set(sink);
                try {
                    main0.invoke(null, cmd, null);
                } catch (Throwable e) {
                    Throwable cause = e.getCause() != null ? e.getCause() : e;
                    cause.printStackTrace(System.out);
                }
            }, "mqadmin-" + id);
            t.setDaemon(true);
            long t0 = System.nanoTime();
            t.start();
            // A command still running after 0.3 s: its stack goes to standard error (the
            // harness keeps it in a file), to see what the tool waits for.
            t.join(Math.min(300L, timeoutMs));
            if (t.isAlive()) {
                StringBuilder sb = new StringBuilder("slow: " + String.join(" ", cmd) + "\n");
                for (StackTraceElement e : t.getStackTrace()) {
                    sb.append("\tat ").append(e).append('\n');
                }
                realErr.print(sb);
                realErr.flush();
                long deadline = System.nanoTime() + (timeoutMs - 300L) * 1_000_000L;
                while (t.isAlive() && System.nanoTime() < deadline) {
                    wakeIdleEventExecutors(t);
                    t.join(50L);
                }
            }
            long ms = (System.nanoTime() - t0) / 1_000_000L;
            String status = t.isAlive() ? "TIMEOUT" : "OK";
            byte[] text;
            synchronized (sink) {
                text = sink.toByteArray();
            }
            synchronized (realOut) {
                realOut.println("@@MQADMIN-BEGIN " + id);
                realOut.write(text, 0, text.length);
                if (text.length > 0 && text[text.length - 1] != '\n') {
                    realOut.println();
                }
                realOut.println("@@MQADMIN-END " + id + " " + ms + " " + status);
                realOut.flush();
            }
        }
        System.exit(0);
    }
}
