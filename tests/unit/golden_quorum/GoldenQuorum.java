/*
 * Prints, as C arrays, the bytes Apache ZooKeeper 3.8 itself produces for the
 * quorum wire formats that consensus/quorum_wire.c encodes and decodes. The
 * output is pasted into tests/unit/test_quorum_wire.c (between the
 * "golden bytes" markers); the unit test does not run Java.
 *
 * It lives in ZooKeeper's package so it can call the package-private
 * FastLeaderElection.buildMsg and read Leader's packet constants. Where
 * ZooKeeper builds bytes inside an instance method that needs a running peer
 * (QuorumCnxManager.startConnection, Learner.request/ping/validateSession,
 * LearnerHandler's REVALIDATE answer, Leader's LEADERINFO, Learner's
 * ACKEPOCH), the same DataOutputStream / ByteBuffer calls are made here, in
 * the same order, with ZooKeeper's own constants.
 *
 * Regenerate (from the repository root):
 *   CP=/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-nop.jar
 *   mkdir -p /tmp/golden_quorum && javac -cp $CP -d /tmp/golden_quorum \
 *       tests/unit/golden_quorum/GoldenQuorum.java
 *   java -cp /tmp/golden_quorum:$CP org.apache.zookeeper.server.quorum.GoldenQuorum
 */
package org.apache.zookeeper.server.quorum;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Collectors;
import org.apache.jute.BinaryOutputArchive;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.common.NetUtils;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.server.DataTree;
import org.apache.zookeeper.server.quorum.flexible.QuorumMaj;
import org.apache.zookeeper.server.util.SerializeUtils;
import org.apache.zookeeper.server.util.ZxidUtils;

public class GoldenQuorum {

    static void print(String name, byte[] bytes) {
        StringBuilder out = new StringBuilder();
        out.append("static const uint8_t ").append(name).append("[] = {");
        for (int i = 0; i < bytes.length; i++) {
            if (i % 12 == 0) {
                out.append("\n   ");
            }
            out.append(String.format(" 0x%02x,", bytes[i] & 0xff));
        }
        out.append("\n};");
        System.out.println(out);
    }

    static void printText(String name, String text) {
        System.out.println("static const char " + name + "[] = \""
            + text.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n\"\n    \"") + "\";");
    }

    /* QuorumCnxManager.startConnection's writes. */
    static byte[] handshake(long protocolVersion, long sid, List<InetSocketAddress> addresses) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream dout = new DataOutputStream(bytes);
        dout.writeLong(protocolVersion);
        dout.writeLong(sid);
        String addr = addresses.stream().map(NetUtils::formatInetAddr).collect(Collectors.joining("|"));
        byte[] addrBytes = addr.getBytes();
        dout.writeInt(addrBytes.length);
        dout.write(addrBytes);
        dout.flush();
        return bytes.toByteArray();
    }

    /* QuorumCnxManager.SendWorker.send: int length, then the buffer. */
    static byte[] electionFrame(ByteBuffer message) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream dout = new DataOutputStream(bytes);
        dout.writeInt(message.capacity());
        dout.write(message.array());
        dout.flush();
        return bytes.toByteArray();
    }

    /* Learner.writePacket / LearnerHandler: oa.writeRecord(qp, "packet"). */
    static byte[] packet(QuorumPacket qp) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        BinaryOutputArchive oa = BinaryOutputArchive.getArchive(bytes);
        oa.writeRecord(qp, "packet");
        return bytes.toByteArray();
    }

    static String config(Properties props) throws Exception {
        return new QuorumMaj(props).toString();
    }

    public static void main(String[] args) throws Exception {
        // ---- election handshake
        print("golden_handshake_v1", handshake(QuorumCnxManager.PROTOCOL_VERSION_V1, 3,
            Arrays.asList(new InetSocketAddress("127.0.0.1", 3888))));
        print("golden_handshake_v2", handshake(QuorumCnxManager.PROTOCOL_VERSION_V2, 2,
            Arrays.asList(new InetSocketAddress("127.0.0.1", 3887), new InetSocketAddress("::1", 3889))));

        // ---- config text (QuorumMaj.toString)
        Properties three = new Properties();
        three.setProperty("server.1", "127.0.0.1:2888:3888:participant;127.0.0.1:2181");
        three.setProperty("server.2", "127.0.0.1:2889:3889:participant;127.0.0.1:2182");
        three.setProperty("server.3", "127.0.0.1:2890:3890:participant;127.0.0.1:2183");
        three.setProperty("version", "100000000");
        String configThree = config(three);
        printText("golden_config_three", configThree);

        // ids 1, 5, 18: HashMap order is 1, 18 (bucket 2), 5; an observer,
        // an IPv6 host, a client port without a host, no client address
        Properties mixed = new Properties();
        mixed.setProperty("server.1", "127.0.0.1:2888:3888;2181");
        mixed.setProperty("server.5", "[::1]:2890:3890:participant;[::1]:2185");
        mixed.setProperty("server.18", "localhost:2889:3889:observer");
        mixed.setProperty("version", "0");
        printText("golden_config_mixed", config(mixed));

        // ---- notification (FastLeaderElection.buildMsg, framed by SendWorker)
        byte[] configBytes = configThree.getBytes();
        print("golden_notification", electionFrame(FastLeaderElection.buildMsg(
            QuorumPeer.ServerState.LOOKING.ordinal(), 3, ZxidUtils.makeZxid(1, 5), 7, 1, configBytes)));
        print("golden_notification_leading", electionFrame(FastLeaderElection.buildMsg(
            QuorumPeer.ServerState.LEADING.ordinal(), 2, ZxidUtils.makeZxid(4, 0x10), 9, 4, new byte[0])));

        // ---- QuorumPackets
        print("golden_packet_ping_leader", packet(new QuorumPacket(Leader.PING, ZxidUtils.makeZxid(1, 3), null, null)));

        // Learner.ping: the pairs of touched sessions, echoing the leader's packet
        ByteArrayOutputStream pingBytes = new ByteArrayOutputStream();
        DataOutputStream pingOut = new DataOutputStream(pingBytes);
        pingOut.writeLong(0x1000001abcd0000L);
        pingOut.writeInt(30000);
        pingOut.writeLong(0x2000000000000ffL);
        pingOut.writeInt(4000);
        pingOut.close();
        print("golden_ping_data", pingBytes.toByteArray());
        print("golden_packet_ping_learner", packet(new QuorumPacket(Leader.PING, ZxidUtils.makeZxid(1, 3),
            pingBytes.toByteArray(), null)));

        // Learner.request
        ByteArrayOutputStream requestBytes = new ByteArrayOutputStream();
        DataOutputStream requestOut = new DataOutputStream(requestBytes);
        requestOut.writeLong(0x1000001abcd0000L);
        requestOut.writeInt(7);
        requestOut.writeInt(ZooDefs.OpCode.create);
        requestOut.write(new byte[] {0, 0, 0, 2, '/', 'a', -1, -1, -1, -1});
        requestOut.close();
        print("golden_request_data", requestBytes.toByteArray());
        print("golden_packet_request", packet(new QuorumPacket(Leader.REQUEST, -1, requestBytes.toByteArray(), null)));
        List<Id> auth = new ArrayList<>();
        auth.add(new Id("digest", "user:hash"));
        auth.add(new Id("ip", "127.0.0.1"));
        print("golden_packet_request_auth", packet(new QuorumPacket(Leader.REQUEST, -1, requestBytes.toByteArray(), auth)));

        // Learner.validateSession
        ByteArrayOutputStream revalidateBytes = new ByteArrayOutputStream();
        DataOutputStream revalidateOut = new DataOutputStream(revalidateBytes);
        revalidateOut.writeLong(0x1000001abcd0001L);
        revalidateOut.writeInt(10000);
        revalidateOut.close();
        print("golden_revalidate_request", revalidateBytes.toByteArray());
        print("golden_packet_revalidate", packet(new QuorumPacket(Leader.REVALIDATE, -1, revalidateBytes.toByteArray(), null)));

        // LearnerMaster.revalidateSession's answer
        ByteArrayOutputStream replyBytes = new ByteArrayOutputStream();
        DataOutputStream replyOut = new DataOutputStream(replyBytes);
        replyOut.writeLong(0x1000001abcd0001L);
        replyOut.writeBoolean(true);
        replyOut.close();
        print("golden_revalidate_reply", replyBytes.toByteArray());

        // Leader.getEpochToPropose's LEADERINFO and Learner's ACKEPOCH
        byte[] ver = new byte[4];
        ByteBuffer.wrap(ver).putInt(0x10000);
        print("golden_packet_leaderinfo", packet(new QuorumPacket(Leader.LEADERINFO, ZxidUtils.makeZxid(2, 0), ver, null)));
        byte[] epochBytes = new byte[4];
        ByteBuffer.wrap(epochBytes).putInt(-1);
        print("golden_packet_ackepoch", packet(new QuorumPacket(Leader.ACKEPOCH, ZxidUtils.makeZxid(1, 9), epochBytes, null)));

        // Learner.registerWithLeader's FOLLOWERINFO (LearnerInfo record)
        ByteArrayOutputStream infoBytes = new ByteArrayOutputStream();
        BinaryOutputArchive infoOa = BinaryOutputArchive.getArchive(infoBytes);
        LearnerInfo li = new LearnerInfo(3, 0x10000, 0x100000000L);
        infoOa.writeRecord(li, "LearnerInfo");
        print("golden_packet_followerinfo", packet(new QuorumPacket(Leader.FOLLOWERINFO, ZxidUtils.makeZxid(1, 0),
            infoBytes.toByteArray(), null)));

        // ---- SNAP stream: ZKDatabase.serializeSnapshot then the signature
        DataTree tree = new DataTree();
        List<ACL> worldRead = ZooDefs.Ids.READ_ACL_UNSAFE;
        List<ACL> digestAcl = new ArrayList<>();
        digestAcl.add(new ACL(ZooDefs.Perms.ALL, new Id("digest", "user:hash")));
        tree.createNode("/a", "hello".getBytes(StandardCharsets.UTF_8), ZooDefs.Ids.OPEN_ACL_UNSAFE, 0, 0,
            ZxidUtils.makeZxid(1, 1), 1700000000000L);
        tree.createNode("/a/b", null, worldRead, 0, 0, ZxidUtils.makeZxid(1, 2), 1700000000001L);
        tree.createNode("/e", new byte[0], digestAcl, 0x1000001abcd0000L, 0, ZxidUtils.makeZxid(1, 3), 1700000000002L);
        Map<Long, Integer> sessions = new LinkedHashMap<>();
        sessions.put(0x1000001abcd0000L, 30000);
        sessions.put(0x1000001abcd0001L, 10000);
        ByteArrayOutputStream snapBytes = new ByteArrayOutputStream();
        BinaryOutputArchive snapOa = BinaryOutputArchive.getArchive(snapBytes);
        SerializeUtils.serializeSnapshot(tree, snapOa, sessions);
        snapOa.writeString("BenWasHere", "signature");
        print("golden_snap_stream", snapBytes.toByteArray());
        // DataTree keeps the root under both "" and "/": one node fewer is written
        System.out.println("enum { golden_snap_sessions = " + sessions.size() + ", golden_snap_nodes = "
            + (tree.getNodeCount() - 1) + " };");
    }
}
