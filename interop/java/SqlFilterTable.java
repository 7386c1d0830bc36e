// Fills the expected column of mini-broker's SQL92 filter table with what Apache's own filter
// module answers (mini-broker/src/filter/sql92_table.tsv; the Rust unit tests compare against it).
//
//   java -cp "$(cat target/apache-rmq/cp/broker-5.5.0.txt)" interop/java/SqlFilterTable.java \
//        mini-broker/src/filter/sql92_table.tsv
//
// The file is rewritten in place. Each line is `expression<TAB>properties<TAB>expected`; lines
// starting with `#` and blank lines are kept as they are. Expression and expected use the
// escapes \t \n \\ ; properties are `name=value` pairs joined by `&`, with `%XX` (UTF-8) for
// `%`, `&`, `=`, tab and newline. An expected column already present is ignored and replaced.
//
// Expected values: TRUE / FALSE / NULL (the raw value of Expression.evaluate over a context that
// maps names to the given String values, as the broker's MessageEvaluationContext does), THROW
// <exception class> when evaluation throws, PARSE <message> when SqlFilter.compile fails
// (<message> is the MQFilterException's getMessage(), the remark CHECK_CLIENT_CONFIG sends).

import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;

import org.apache.rocketmq.filter.SqlFilter;
import org.apache.rocketmq.filter.expression.EvaluationContext;
import org.apache.rocketmq.filter.expression.Expression;

public class SqlFilterTable {
    static String unescape(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length()) {
                char n = s.charAt(++i);
                b.append(n == 't' ? '\t' : n == 'n' ? '\n' : n == 'r' ? '\r' : n);
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    static String escape(String s) {
        return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r");
    }

    static String percentDecode(String s) {
        byte[] out = new byte[s.length()];
        int n = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '%' && i + 2 < s.length()) {
                out[n++] = (byte) Integer.parseInt(s.substring(i + 1, i + 3), 16);
                i += 2;
            } else {
                byte[] bs = String.valueOf(c).getBytes(StandardCharsets.UTF_8);
                for (byte x : bs) out[n++] = x;
            }
        }
        return new String(out, 0, n, StandardCharsets.UTF_8);
    }

    static Map<String, String> props(String col) {
        Map<String, String> m = new HashMap<>();
        if (col.isEmpty()) return m;
        for (String kv : col.split("&", -1)) {
            int eq = kv.indexOf('=');
            m.put(percentDecode(kv.substring(0, eq)), percentDecode(kv.substring(eq + 1)));
        }
        return m;
    }

    static String run(String expr, Map<String, String> props) {
        Expression e;
        try {
            e = new SqlFilter().compile(expr);
        } catch (Exception ex) {
            return "PARSE " + escape(String.valueOf(ex.getMessage()));
        }
        EvaluationContext ctx = new EvaluationContext() {
            public Object get(String name) {
                return props.get(name);
            }

            public Map<String, Object> keyValues() {
                return new HashMap<>(props);
            }
        };
        try {
            Object v = e.evaluate(ctx);
            if (v == null) return "NULL";
            if (v instanceof Boolean) return ((Boolean) v) ? "TRUE" : "FALSE";
            return "VALUE " + v.getClass().getSimpleName();
        } catch (Throwable t) {
            return "THROW " + t.getClass().getSimpleName();
        }
    }

    public static void main(String[] args) throws Exception {
        Path path = Paths.get(args[0]);
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(path, StandardCharsets.UTF_8)) {
            if (line.isEmpty() || line.startsWith("#")) {
                out.add(line);
                continue;
            }
            String[] cols = line.split("\t", -1);
            String expr = unescape(cols[0]);
            String p = cols.length > 1 ? cols[1] : "";
            out.add(cols[0] + "\t" + p + "\t" + run(expr, props(p)));
        }
        Files.write(path, out, StandardCharsets.UTF_8);
    }
}
