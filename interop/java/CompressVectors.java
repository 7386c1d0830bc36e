// Prints golden vectors of RocketMQ body compression made by Apache's own Java classes
// (org.apache.rocketmq.common.compression.* and MessageDecoder.encode), for
// rocketmq-remoting/tests/data/compression_vectors.txt. How it was run is in
// interop/java/README.md. Deterministic: fixed inputs, fixed levels, fixed record fields.
//
// Output lines (hex is lower case):
//   input  <name> <hex of the plain bytes>
//   body   <name> <TYPE> <level> <hex of compressor.compress(input, level)>
//   record <name> <TYPE> <sysFlag> <hex of MessageDecoder.encode(msg, true)>

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

import org.apache.rocketmq.common.compression.CompressionType;
import org.apache.rocketmq.common.compression.CompressorFactory;
import org.apache.rocketmq.common.message.MessageDecoder;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.sysflag.MessageSysFlag;

public class CompressVectors {
    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) s.append(String.format("%02x", x & 0xff));
        return s.toString();
    }

    static Map<String, byte[]> inputs() {
        Map<String, byte[]> in = new LinkedHashMap<>();
        in.put("empty", new byte[0]);
        in.put("hello", "Hello RocketMQ".getBytes(StandardCharsets.UTF_8));
        StringBuilder t = new StringBuilder();
        for (int i = 0; i < 300; i++) t.append("h\u00e9llo w\u00f6rld \u2713 ").append(i).append('\n');
        in.put("text", t.toString().getBytes(StandardCharsets.UTF_8));
        // Low-entropy pseudo-random bytes (a fixed LCG), 3000 of them: compressible, but not
        // one repeated pattern.
        byte[] r = new byte[3000];
        long x = 12345;
        for (int i = 0; i < r.length; i++) {
            x = (x * 6364136223846793005L + 1442695040888963407L);
            r[i] = (byte) ((x >>> 60) + 'a');
        }
        in.put("lcg", r);
        return in;
    }

    public static void main(String[] args) throws Exception {
        Map<String, byte[]> in = inputs();
        for (Map.Entry<String, byte[]> e : in.entrySet()) {
            System.out.println("input " + e.getKey() + " " + hex(e.getValue()));
        }
        for (Map.Entry<String, byte[]> e : in.entrySet()) {
            for (CompressionType t : CompressionType.values()) {
                // Java's default level 5 for all; the extremes where the level matters.
                int[] levels = t == CompressionType.ZLIB ? new int[] {1, 5, 9}
                    : t == CompressionType.ZSTD ? new int[] {1, 5, 19} : new int[] {5};
                for (int level : levels) {
                    byte[] z = CompressorFactory.getCompressor(t).compress(e.getValue(), level);
                    System.out.println("body " + e.getKey() + " " + t.name() + " " + level + " " + hex(z));
                }
            }
        }
        // Whole stored records as a broker would hand them out: MessageDecoder.encode compresses
        // the body with the type of the sysFlag at level 5.
        for (CompressionType t : CompressionType.values()) {
            MessageExt m = new MessageExt();
            m.setTopic("CompressTopic");
            m.setBody(in.get("text"));
            m.setQueueId(1);
            m.setFlag(0);
            m.setQueueOffset(42);
            m.setCommitLogOffset(4096);
            int sysFlag = MessageSysFlag.COMPRESSED_FLAG | t.getCompressionFlag();
            m.setSysFlag(sysFlag);
            m.setBornTimestamp(1700000000000L);
            m.setBornHost(new InetSocketAddress("127.0.0.1", 50000));
            m.setStoreTimestamp(1700000000100L);
            m.setStoreHost(new InetSocketAddress("127.0.0.1", 10911));
            m.setReconsumeTimes(0);
            m.setPreparedTransactionOffset(0);
            m.putUserProperty("k", "v \u2713");
            m.setTags("TagA");
            System.out.println("record text " + t.name() + " " + sysFlag + " " + hex(MessageDecoder.encode(m, true)));
        }
    }
}
