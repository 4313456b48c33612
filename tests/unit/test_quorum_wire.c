/* The quorum wire codecs (consensus/quorum_wire.c) against the bytes Apache
 * ZooKeeper 3.8.0 itself produces: every encoder must produce them, every
 * decoder must read them back, every proper prefix must be NEED_MORE (framers,
 * handshake) or false (payloads), and corruptions must be MALFORMED. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "consensus/quorum_wire.h"
#include "jute/jute.h"
#include "jute/records.h"

/* ---- golden bytes (begin) ------------------------------------------------
 * Printed by tests/unit/golden_quorum/GoldenQuorum.java with ZooKeeper
 * 3.8.0's own classes (/usr/share/java/zookeeper.jar); see that file for how
 * to regenerate. Do not edit by hand. */
static const uint8_t golden_handshake_v1[] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x0e, 0x31, 0x32, 0x37, 0x2e,
    0x30, 0x2e, 0x30, 0x2e, 0x31, 0x3a, 0x33, 0x38, 0x38, 0x38,
};
static const uint8_t golden_handshake_v2[] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x25, 0x31, 0x32, 0x37, 0x2e,
    0x30, 0x2e, 0x30, 0x2e, 0x31, 0x3a, 0x33, 0x38, 0x38, 0x37, 0x7c, 0x5b,
    0x30, 0x3a, 0x30, 0x3a, 0x30, 0x3a, 0x30, 0x3a, 0x30, 0x3a, 0x30, 0x3a,
    0x30, 0x3a, 0x31, 0x5d, 0x3a, 0x33, 0x38, 0x38, 0x39,
};
static const char golden_config_three[] = "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n"
    "server.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182\n"
    "server.3=127.0.0.1:2890:3890:participant;127.0.0.1:2183\n"
    "version=100000000";
static const char golden_config_mixed[] = "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n"
    "server.18=localhost:2889:3889:observer\n"
    "server.5=[0:0:0:0:0:0:0:1]:2890:3890:participant;[0:0:0:0:0:0:0:1]:2185\n"
    "version=0";
static const uint8_t golden_notification[] = {
    0x00, 0x00, 0x00, 0xe5, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0xb9,
    0x73, 0x65, 0x72, 0x76, 0x65, 0x72, 0x2e, 0x31, 0x3d, 0x31, 0x32, 0x37,
    0x2e, 0x30, 0x2e, 0x30, 0x2e, 0x31, 0x3a, 0x32, 0x38, 0x38, 0x38, 0x3a,
    0x33, 0x38, 0x38, 0x38, 0x3a, 0x70, 0x61, 0x72, 0x74, 0x69, 0x63, 0x69,
    0x70, 0x61, 0x6e, 0x74, 0x3b, 0x31, 0x32, 0x37, 0x2e, 0x30, 0x2e, 0x30,
    0x2e, 0x31, 0x3a, 0x32, 0x31, 0x38, 0x31, 0x0a, 0x73, 0x65, 0x72, 0x76,
    0x65, 0x72, 0x2e, 0x32, 0x3d, 0x31, 0x32, 0x37, 0x2e, 0x30, 0x2e, 0x30,
    0x2e, 0x31, 0x3a, 0x32, 0x38, 0x38, 0x39, 0x3a, 0x33, 0x38, 0x38, 0x39,
    0x3a, 0x70, 0x61, 0x72, 0x74, 0x69, 0x63, 0x69, 0x70, 0x61, 0x6e, 0x74,
    0x3b, 0x31, 0x32, 0x37, 0x2e, 0x30, 0x2e, 0x30, 0x2e, 0x31, 0x3a, 0x32,
    0x31, 0x38, 0x32, 0x0a, 0x73, 0x65, 0x72, 0x76, 0x65, 0x72, 0x2e, 0x33,
    0x3d, 0x31, 0x32, 0x37, 0x2e, 0x30, 0x2e, 0x30, 0x2e, 0x31, 0x3a, 0x32,
    0x38, 0x39, 0x30, 0x3a, 0x33, 0x38, 0x39, 0x30, 0x3a, 0x70, 0x61, 0x72,
    0x74, 0x69, 0x63, 0x69, 0x70, 0x61, 0x6e, 0x74, 0x3b, 0x31, 0x32, 0x37,
    0x2e, 0x30, 0x2e, 0x30, 0x2e, 0x31, 0x3a, 0x32, 0x31, 0x38, 0x33, 0x0a,
    0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x3d, 0x31, 0x30, 0x30, 0x30,
    0x30, 0x30, 0x30, 0x30, 0x30,
};
static const uint8_t golden_notification_leading[] = {
    0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x10,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t golden_packet_ping_leader[] = {
    0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};
static const uint8_t golden_ping_data[] = {
    0x01, 0x00, 0x00, 0x01, 0xab, 0xcd, 0x00, 0x00, 0x00, 0x00, 0x75, 0x30,
    0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x0f, 0xa0,
};
static const uint8_t golden_packet_ping_learner[] = {
    0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03,
    0x00, 0x00, 0x00, 0x18, 0x01, 0x00, 0x00, 0x01, 0xab, 0xcd, 0x00, 0x00,
    0x00, 0x00, 0x75, 0x30, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff,
    0x00, 0x00, 0x0f, 0xa0, 0xff, 0xff, 0xff, 0xff,
};
static const uint8_t golden_request_data[] = {
    0x01, 0x00, 0x00, 0x01, 0xab, 0xcd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x2f, 0x61, 0xff, 0xff,
    0xff, 0xff,
};
static const uint8_t golden_packet_request[] = {
    0x00, 0x00, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x00, 0x00, 0x00, 0x1a, 0x01, 0x00, 0x00, 0x01, 0xab, 0xcd, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,
    0x2f, 0x61, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};
static const uint8_t golden_packet_request_auth[] = {
    0x00, 0x00, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x00, 0x00, 0x00, 0x1a, 0x01, 0x00, 0x00, 0x01, 0xab, 0xcd, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,
    0x2f, 0x61, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00,
    0x00, 0x06, 0x64, 0x69, 0x67, 0x65, 0x73, 0x74, 0x00, 0x00, 0x00, 0x09,
    0x75, 0x73, 0x65, 0x72, 0x3a, 0x68, 0x61, 0x73, 0x68, 0x00, 0x00, 0x00,
    0x02, 0x69, 0x70, 0x00, 0x00, 0x00, 0x09, 0x31, 0x32, 0x37, 0x2e, 0x30,
    0x2e, 0x30, 0x2e, 0x31,
};
static const uint8_t golden_revalidate_request[] = {
    0x01, 0x00, 0x00, 0x01, 0xab, 0xcd, 0x00, 0x01, 0x00, 0x00, 0x27, 0x10,
};
static const uint8_t golden_packet_revalidate[] = {
    0x00, 0x00, 0x00, 0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x00, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x01, 0xab, 0xcd, 0x00, 0x01,
    0x00, 0x00, 0x27, 0x10, 0xff, 0xff, 0xff, 0xff,
};
static const uint8_t golden_revalidate_reply[] = {
    0x01, 0x00, 0x00, 0x01, 0xab, 0xcd, 0x00, 0x01, 0x01,
};
static const uint8_t golden_packet_leaderinfo[] = {
    0x00, 0x00, 0x00, 0x11, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
};
static const uint8_t golden_packet_ackepoch[] = {
    0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x09,
    0x00, 0x00, 0x00, 0x04, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};
static const uint8_t golden_packet_followerinfo[] = {
    0x00, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0xff,
};
static const uint8_t golden_snap_stream[] = {
    0x00, 0x00, 0x00, 0x02, 0x01, 0x00, 0x00, 0x01, 0xab, 0xcd, 0x00, 0x00,
    0x00, 0x00, 0x75, 0x30, 0x01, 0x00, 0x00, 0x01, 0xab, 0xcd, 0x00, 0x01,
    0x00, 0x00, 0x27, 0x10, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x05, 0x77, 0x6f, 0x72, 0x6c, 0x64, 0x00, 0x00, 0x00,
    0x06, 0x61, 0x6e, 0x79, 0x6f, 0x6e, 0x65, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1f, 0x00,
    0x00, 0x00, 0x05, 0x77, 0x6f, 0x72, 0x6c, 0x64, 0x00, 0x00, 0x00, 0x06,
    0x61, 0x6e, 0x79, 0x6f, 0x6e, 0x65, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1f, 0x00, 0x00,
    0x00, 0x06, 0x64, 0x69, 0x67, 0x65, 0x73, 0x74, 0x00, 0x00, 0x00, 0x09,
    0x75, 0x73, 0x65, 0x72, 0x3a, 0x68, 0x61, 0x73, 0x68, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x02, 0x2f, 0x61, 0x00, 0x00, 0x00, 0x05, 0x68,
    0x65, 0x6c, 0x6c, 0x6f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00,
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x04, 0x2f, 0x61, 0x2f, 0x62, 0xff, 0xff, 0xff, 0xff,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x01, 0x00, 0x00, 0x01, 0x8b,
    0xcf, 0xe5, 0x68, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x0a,
    0x2f, 0x7a, 0x6f, 0x6f, 0x6b, 0x65, 0x65, 0x70, 0x65, 0x72, 0x00, 0x00,
    0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x11, 0x2f, 0x7a, 0x6f, 0x6f, 0x6b, 0x65, 0x65, 0x70, 0x65, 0x72,
    0x2f, 0x63, 0x6f, 0x6e, 0x66, 0x69, 0x67, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff,
    0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x2f,
    0x7a, 0x6f, 0x6f, 0x6b, 0x65, 0x65, 0x70, 0x65, 0x72, 0x2f, 0x71, 0x75,
    0x6f, 0x74, 0x61, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x2f, 0x65, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x03, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x02, 0x00, 0x00, 0x01,
    0x8b, 0xcf, 0xe5, 0x68, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0xab, 0xcd, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
    0x01, 0x2f, 0x00, 0x00, 0x00, 0x0a, 0x42, 0x65, 0x6e, 0x57, 0x61, 0x73,
    0x48, 0x65, 0x72, 0x65,
};
enum { golden_snap_sessions = 2, golden_snap_nodes = 7 };
/* ---- golden bytes (end) -------------------------------------------------- */

/* ---- helpers ----------------------------------------------------------- */

#define WRITER_LIMIT_BYTES (1024u * 1024u)

static void assert_bytes_equal(const uint8_t *actual, size_t actual_size, const uint8_t *expected,
                               size_t expected_size)
{
    assert_int_equal(actual_size, expected_size);
    assert_memory_equal(actual, expected, expected_size);
}

static void assert_writer_equal(const struct jute_writer *writer, const uint8_t *expected,
                                size_t expected_size)
{
    assert_true(writer->ok);
    assert_bytes_equal(writer->data, writer->size, expected, expected_size);
}

static uint8_t *copy_of(const uint8_t *bytes, size_t size)
{
    uint8_t *copy = malloc(size + 1);
    assert_non_null(copy);
    memcpy(copy, bytes, size);
    return copy;
}

static void store_be32_signed(uint8_t *at, int32_t value)
{
    jute_store_be32(at, (uint32_t)value);
}

static struct jute_bytes bytes_of(const uint8_t *bytes, size_t size)
{
    return jute_bytes_of(bytes, (int32_t)size);
}

/* ---- zxid -------------------------------------------------------------- */

static void test_zxid_helpers(void **state)
{
    (void)state;
    assert_int_equal(quorum_zxid_make(1, 5), 0x100000005LL);
    assert_int_equal(quorum_zxid_epoch(0x700000009LL), 7);
    assert_int_equal(quorum_zxid_counter(0x700000009LL), 9);
    /* the counter is cut to 32 bits; epoch and counter round-trip */
    assert_int_equal(quorum_zxid_make(2, 0x1ffffffffLL), 0x2ffffffffLL);
    int64_t zxid = quorum_zxid_make(0x7fffffff, 0xffffffff);
    assert_int_equal(quorum_zxid_epoch(zxid), 0x7fffffff);
    assert_int_equal(quorum_zxid_counter(zxid), 0xffffffffLL);
    /* -1 (no zxid) splits as ZxidUtils does: logical shift */
    assert_int_equal(quorum_zxid_epoch(-1), 0xffffffffLL);
    assert_int_equal(quorum_zxid_counter(-1), 0xffffffffLL);
}

/* ---- election frames --------------------------------------------------- */

static void test_election_frame(void **state)
{
    (void)state;
    size_t body_bytes = 0;
    assert_int_equal(quorum_election_frame(golden_notification, sizeof(golden_notification),
                                           &body_bytes),
                     QUORUM_WIRE_DONE);
    assert_int_equal(body_bytes, sizeof(golden_notification) - 4);
    for (size_t size = 0; size < sizeof(golden_notification); size++) {
        assert_int_equal(quorum_election_frame(golden_notification, size, &body_bytes),
                         QUORUM_WIRE_NEED_MORE);
    }
    uint8_t frame[8] = {0};
    store_be32_signed(frame, 0);
    assert_int_equal(quorum_election_frame(frame, 4, &body_bytes), QUORUM_WIRE_MALFORMED);
    store_be32_signed(frame, -1);
    assert_int_equal(quorum_election_frame(frame, 4, &body_bytes), QUORUM_WIRE_MALFORMED);
    store_be32_signed(frame, (int32_t)QUORUM_ELECTION_FRAME_BYTES_MAX + 1);
    assert_int_equal(quorum_election_frame(frame, 8, &body_bytes), QUORUM_WIRE_MALFORMED);
    store_be32_signed(frame, (int32_t)QUORUM_ELECTION_FRAME_BYTES_MAX);
    assert_int_equal(quorum_election_frame(frame, 8, &body_bytes), QUORUM_WIRE_NEED_MORE);
}

/* ---- handshake --------------------------------------------------------- */

static void test_handshake_encode_matches_zookeeper(void **state)
{
    (void)state;
    struct jute_writer writer;
    jute_writer_init(&writer, WRITER_LIMIT_BYTES);
    quorum_election_handshake_encode(&writer, 3, "127.0.0.1:3888");
    assert_writer_equal(&writer, golden_handshake_v1, sizeof(golden_handshake_v1));
    jute_writer_free(&writer);
}

static void test_handshake_decode(void **state)
{
    (void)state;
    static struct quorum_election_handshake handshake;
    size_t consumed = 0;
    assert_int_equal(quorum_election_handshake_decode(golden_handshake_v1,
                                                      sizeof(golden_handshake_v1), &handshake,
                                                      &consumed),
                     QUORUM_WIRE_DONE);
    assert_int_equal(consumed, sizeof(golden_handshake_v1));
    assert_int_equal(handshake.protocol_version, QUORUM_ELECTION_PROTOCOL_V1);
    assert_int_equal(handshake.server_id, 3);
    assert_string_equal(handshake.addresses, "127.0.0.1:3888");

    /* V2 with two addresses, one IPv6 in brackets; bytes after it are the
     * next message and are not consumed */
    uint8_t *longer = copy_of(golden_handshake_v2, sizeof(golden_handshake_v2));
    longer[sizeof(golden_handshake_v2)] = 0x55;
    assert_int_equal(quorum_election_handshake_decode(longer, sizeof(golden_handshake_v2) + 1,
                                                      &handshake, &consumed),
                     QUORUM_WIRE_DONE);
    free(longer);
    assert_int_equal(consumed, sizeof(golden_handshake_v2));
    assert_int_equal(handshake.protocol_version, QUORUM_ELECTION_PROTOCOL_V2);
    assert_int_equal(handshake.server_id, 2);
    assert_string_equal(handshake.addresses, "127.0.0.1:3887|[0:0:0:0:0:0:0:1]:3889");

    for (size_t size = 0; size < sizeof(golden_handshake_v1); size++) {
        assert_int_equal(quorum_election_handshake_decode(golden_handshake_v1, size, &handshake,
                                                          &consumed),
                         QUORUM_WIRE_NEED_MORE);
    }
    for (size_t size = 0; size < sizeof(golden_handshake_v2); size++) {
        assert_int_equal(quorum_election_handshake_decode(golden_handshake_v2, size, &handshake,
                                                          &consumed),
                         QUORUM_WIRE_NEED_MORE);
    }
}

static void test_handshake_old_peer_sends_bare_sid(void **state)
{
    (void)state;
    static struct quorum_election_handshake handshake;
    const uint8_t bare_sid[] = {0, 0, 0, 0, 0, 0, 0, 5, 0xaa};
    size_t consumed = 0;
    assert_int_equal(quorum_election_handshake_decode(bare_sid, sizeof(bare_sid), &handshake,
                                                      &consumed),
                     QUORUM_WIRE_DONE);
    assert_int_equal(consumed, 8);
    assert_int_equal(handshake.protocol_version, 5);
    assert_int_equal(handshake.server_id, 5);
    assert_string_equal(handshake.addresses, "");
}

/* A handshake with `address` (length as given) after protocol V1, sid 9. */
static enum quorum_wire_status decode_handshake_with(int32_t address_len, const char *address,
                                                     size_t address_bytes)
{
    static struct quorum_election_handshake handshake;
    struct jute_writer writer;
    jute_writer_init(&writer, WRITER_LIMIT_BYTES);
    jute_write_long(&writer, QUORUM_ELECTION_PROTOCOL_V1);
    jute_write_long(&writer, 9);
    jute_write_int(&writer, address_len);
    jute_write_raw(&writer, address, address_bytes);
    size_t consumed = 0;
    enum quorum_wire_status status =
        quorum_election_handshake_decode(writer.data, writer.size, &handshake, &consumed);
    if (status == QUORUM_WIRE_DONE) {
        assert_int_equal(consumed, writer.size);
    }
    jute_writer_free(&writer);
    return status;
}

static enum quorum_wire_status decode_handshake_text(const char *address)
{
    return decode_handshake_with((int32_t)strlen(address), address, strlen(address));
}

static void test_handshake_malformed(void **state)
{
    (void)state;
    static struct quorum_election_handshake handshake;
    size_t consumed = 0;
    /* an unknown (negative) protocol version */
    uint8_t *bad_version = copy_of(golden_handshake_v1, sizeof(golden_handshake_v1));
    bad_version[7] = 0x02; /* -65534 */
    assert_int_equal(quorum_election_handshake_decode(bad_version, 8, &handshake, &consumed),
                     QUORUM_WIRE_MALFORMED);
    free(bad_version);

    /* address lengths InitialMessage.parse refuses */
    assert_int_equal(decode_handshake_with(0, "", 0), QUORUM_WIRE_MALFORMED);
    assert_int_equal(decode_handshake_with(-1, "", 0), QUORUM_WIRE_MALFORMED);
    assert_int_equal(decode_handshake_with((int32_t)QUORUM_ELECTION_ADDRESS_BYTES_MAX + 1, "", 0),
                     QUORUM_WIRE_MALFORMED);
    /* the longest accepted length waits for its bytes, then decodes */
    assert_int_equal(decode_handshake_with((int32_t)QUORUM_ELECTION_ADDRESS_BYTES_MAX, "", 0),
                     QUORUM_WIRE_NEED_MORE);
    static char longest[QUORUM_ELECTION_ADDRESS_BYTES_MAX + 1];
    memset(longest, 'h', QUORUM_ELECTION_ADDRESS_BYTES_MAX);
    memcpy(longest + QUORUM_ELECTION_ADDRESS_BYTES_MAX - 5, ":3888", 5);
    assert_int_equal(decode_handshake_text(longest), QUORUM_WIRE_DONE);

    /* badly formed addresses (each case checked against 3.8.0's
     * InitialMessage.parse) */
    assert_int_equal(decode_handshake_text("127.0.0.1:3888"), QUORUM_WIRE_DONE);
    assert_int_equal(decode_handshake_text("localhost"), QUORUM_WIRE_MALFORMED);
    assert_int_equal(decode_handshake_text("localhost:"), QUORUM_WIRE_MALFORMED);
    assert_int_equal(decode_handshake_text("h:38x8"), QUORUM_WIRE_MALFORMED);
    assert_int_equal(decode_handshake_text("h:65536"), QUORUM_WIRE_MALFORMED);
    assert_int_equal(decode_handshake_text("a:1:2"), QUORUM_WIRE_MALFORMED);
    assert_int_equal(decode_handshake_text("[::1]3888"), QUORUM_WIRE_MALFORMED);
    assert_int_equal(decode_handshake_text("|h:1"), QUORUM_WIRE_MALFORMED);
    assert_int_equal(decode_handshake_text("h:1||h:2"), QUORUM_WIRE_MALFORMED);
    assert_int_equal(decode_handshake_text("h:-1"), QUORUM_WIRE_MALFORMED);
    assert_int_equal(decode_handshake_text("h:99999999999"), QUORUM_WIRE_MALFORMED);
    /* what Java's split and parseInt accept: trailing '|', '+', leading 0s */
    assert_int_equal(decode_handshake_text("h:1|"), QUORUM_WIRE_DONE);
    assert_int_equal(decode_handshake_text("|||"), QUORUM_WIRE_DONE);
    assert_int_equal(decode_handshake_text(":3888"), QUORUM_WIRE_DONE); /* loopback in Java */
    assert_int_equal(decode_handshake_text("h:+3888"), QUORUM_WIRE_DONE);
    assert_int_equal(decode_handshake_text("h:0003888"), QUORUM_WIRE_DONE);
    assert_int_equal(decode_handshake_text("h:65535"), QUORUM_WIRE_DONE);
    assert_int_equal(decode_handshake_text("[::1]:3888|h:1"), QUORUM_WIRE_DONE);
    assert_int_equal(decode_handshake_with(6, "h:1\0" "23", 6), QUORUM_WIRE_MALFORMED);
}

/* ---- notifications ----------------------------------------------------- */

static const struct quorum_config_member three_members[] = {
    {1, "127.0.0.1", 2888, 3888, false, "127.0.0.1", 2181},
    {2, "127.0.0.1", 2889, 3889, false, "127.0.0.1", 2182},
    {3, "127.0.0.1", 2890, 3890, false, "127.0.0.1", 2183},
};

static void test_config_text_matches_zookeeper(void **state)
{
    (void)state;
    char text[1024];
    assert_true(quorum_config_text(three_members, 3, 0x100000000LL, text, sizeof(text)));
    assert_string_equal(text, golden_config_three);
    /* given in any order, printed in HashMap order */
    const struct quorum_config_member reversed[] = {three_members[2], three_members[1],
                                                    three_members[0]};
    assert_true(quorum_config_text(reversed, 3, 0x100000000LL, text, sizeof(text)));
    assert_string_equal(text, golden_config_three);

    /* ids 1, 5, 18: Java's HashMap puts 18 (bucket 2) before 5; an observer
     * without a client address; IPv6 hosts in brackets (Java prints the
     * resolved literal, so the caller passes that); client "2181" alone is
     * 0.0.0.0 */
    const struct quorum_config_member mixed[] = {
        {5, "0:0:0:0:0:0:0:1", 2890, 3890, false, "0:0:0:0:0:0:0:1", 2185},
        {18, "localhost", 2889, 3889, true, NULL, 0},
        {1, "127.0.0.1", 2888, 3888, false, "0.0.0.0", 2181},
    };
    assert_true(quorum_config_text(mixed, 3, 0, text, sizeof(text)));
    assert_string_equal(text, golden_config_mixed);

    /* Long.toHexString of a negative version: two's complement */
    assert_true(quorum_config_text(three_members, 1, -1, text, sizeof(text)));
    assert_string_equal(text, "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n"
                              "version=ffffffffffffffff");
    /* too small: false, whatever the cut */
    size_t whole = strlen(golden_config_three);
    for (size_t out_bytes = 0; out_bytes <= whole; out_bytes++) {
        assert_false(quorum_config_text(three_members, 3, 0x100000000LL, text, out_bytes));
    }
    assert_true(quorum_config_text(three_members, 3, 0x100000000LL, text, whole + 1));
}

static void test_config_text_large_ensemble_order(void **state)
{
    (void)state;
    /* 13 members: the HashMap has grown to 32 buckets; id 33 lands in bucket
     * 1 (33 & 31), right after id 1, and id 20 stays in bucket 20. */
    struct quorum_config_member members[13];
    int64_t ids[13] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 20, 33};
    for (size_t i = 0; i < 13; i++) {
        members[i] = (struct quorum_config_member){ids[i], "h", 1, 2, false, NULL, 0};
    }
    char text[2048];
    assert_true(quorum_config_text(members, 13, 0, text, sizeof(text)));
    assert_true(strncmp(text, "server.1=h:1:2:participant\nserver.33=", 37) == 0);
    assert_non_null(strstr(text, "server.11=h:1:2:participant\nserver.20=h:1:2:participant\n"
                                 "version=0"));
}

static void test_notification_encode_matches_zookeeper(void **state)
{
    (void)state;
    char config[1024];
    assert_true(quorum_config_text(three_members, 3, 0x100000000LL, config, sizeof(config)));
    const struct election_notification notification = {
        .state = PEER_LOOKING,
        .leader = 3,
        .zxid = quorum_zxid_make(1, 5),
        .election_epoch = 7,
        .peer_epoch = 1,
        .version = 0, /* the format written is always 2 */
    };
    struct jute_writer writer;
    jute_writer_init(&writer, WRITER_LIMIT_BYTES);
    quorum_notification_encode(&writer, &notification, config);
    assert_writer_equal(&writer, golden_notification, sizeof(golden_notification));

    jute_writer_reset(&writer);
    const struct election_notification leading = {PEER_LEADING, 2, quorum_zxid_make(4, 0x10), 9,
                                                  4, 2};
    quorum_notification_encode(&writer, &leading, "");
    assert_writer_equal(&writer, golden_notification_leading,
                        sizeof(golden_notification_leading));
    jute_writer_free(&writer);
}

static void test_notification_decode(void **state)
{
    (void)state;
    struct election_notification notification;
    struct jute_bytes config;
    const uint8_t *body = golden_notification + 4;
    size_t body_size = sizeof(golden_notification) - 4;
    assert_true(quorum_notification_decode(body, body_size, &notification, &config));
    assert_int_equal(notification.state, PEER_LOOKING);
    assert_int_equal(notification.leader, 3);
    assert_int_equal(notification.zxid, 0x100000005LL);
    assert_int_equal(notification.election_epoch, 7);
    assert_int_equal(notification.peer_epoch, 1);
    assert_int_equal(notification.version, 2);
    assert_true(jute_bytes_equal(config, jute_bytes_cstr(golden_config_three)));
    assert_true(config.ptr >= body && config.ptr + config.len == body + body_size);
    /* config_out is optional */
    assert_true(quorum_notification_decode(body, body_size, &notification, NULL));

    assert_true(quorum_notification_decode(golden_notification_leading + 4,
                                           sizeof(golden_notification_leading) - 4,
                                           &notification, &config));
    assert_int_equal(notification.state, PEER_LEADING);
    assert_int_equal(notification.leader, 2);
    assert_int_equal(notification.zxid, 0x400000010LL);
    assert_int_equal(notification.election_epoch, 9);
    assert_int_equal(notification.peer_epoch, 4);
    assert_int_equal(config.len, 0);
    assert_non_null(config.ptr);
}

static void test_notification_older_formats(void **state)
{
    (void)state;
    struct election_notification notification;
    struct jute_bytes config;
    const uint8_t *body = golden_notification + 4;
    size_t body_size = sizeof(golden_notification) - 4;

    /* 28 bytes: no peer epoch, taken from the zxid's epoch */
    uint8_t old28[28];
    memcpy(old28, body, 28);
    old28[15] = 0x03; /* zxid 0x300000005: epoch 3 */
    assert_true(quorum_notification_decode(old28, 28, &notification, &config));
    assert_int_equal(notification.zxid, 0x300000005LL);
    assert_int_equal(notification.peer_epoch, 3);
    assert_int_equal(notification.version, 0);
    assert_int_equal(config.len, -1);
    assert_null(config.ptr);

    /* 40 bytes: peer epoch, no version */
    assert_true(quorum_notification_decode(body, 40, &notification, &config));
    assert_int_equal(notification.peer_epoch, 1);
    assert_int_equal(notification.version, 0);
    assert_int_equal(config.len, -1);

    /* what WorkerReceiver drops: short messages and fields cut short */
    for (size_t size = 0; size < body_size; size++) {
        bool accepted = quorum_notification_decode(body, size, &notification, &config);
        assert_int_equal(accepted, size == 28 || size == 40);
    }

    /* version 1 (no config) with more bytes after it */
    uint8_t v1[48];
    memcpy(v1, body, 48);
    v1[39] = 1;
    assert_true(quorum_notification_decode(v1, sizeof(v1), &notification, &config));
    assert_int_equal(notification.version, 1);
    assert_int_equal(config.len, -1);
    assert_true(quorum_notification_decode(v1, 41, &notification, &config));
}

static void test_notification_malformed(void **state)
{
    (void)state;
    struct election_notification notification;
    size_t body_size = sizeof(golden_notification) - 4;
    uint8_t *body = copy_of(golden_notification + 4, body_size);

    store_be32_signed(body, 4); /* no such ServerState */
    assert_false(quorum_notification_decode(body, body_size, &notification, NULL));
    store_be32_signed(body, -1);
    assert_false(quorum_notification_decode(body, body_size, &notification, NULL));
    store_be32_signed(body, PEER_OBSERVING);
    assert_true(quorum_notification_decode(body, body_size, &notification, NULL));
    assert_int_equal(notification.state, PEER_OBSERVING);

    store_be32_signed(body + 40, -1); /* config length */
    assert_false(quorum_notification_decode(body, body_size, &notification, NULL));
    store_be32_signed(body + 40, (int32_t)body_size + 1);
    assert_false(quorum_notification_decode(body, body_size, &notification, NULL));
    /* within the capacity check but past the end: BufferUnderflowException */
    store_be32_signed(body + 40, (int32_t)(body_size - 44) + 1);
    assert_false(quorum_notification_decode(body, body_size, &notification, NULL));
    store_be32_signed(body + 40, (int32_t)(body_size - 44));
    assert_true(quorum_notification_decode(body, body_size, &notification, NULL));
    free(body);
}

/* ---- quorum packets ---------------------------------------------------- */

struct golden_packet {
    const char *name;
    const uint8_t *bytes;
    size_t size;
};

#define GOLDEN_PACKET(array) {#array, array, sizeof(array)}
static const struct golden_packet golden_packets[] = {
    GOLDEN_PACKET(golden_packet_ping_leader),    GOLDEN_PACKET(golden_packet_ping_learner),
    GOLDEN_PACKET(golden_packet_request),        GOLDEN_PACKET(golden_packet_request_auth),
    GOLDEN_PACKET(golden_packet_revalidate),     GOLDEN_PACKET(golden_packet_leaderinfo),
    GOLDEN_PACKET(golden_packet_ackepoch),       GOLDEN_PACKET(golden_packet_followerinfo),
};
#define GOLDEN_PACKET_COUNT (sizeof(golden_packets) / sizeof(golden_packets[0]))

static void test_packet_frame(void **state)
{
    (void)state;
    for (size_t i = 0; i < GOLDEN_PACKET_COUNT; i++) {
        const struct golden_packet *packet = &golden_packets[i];
        size_t packet_bytes = 0;
        assert_int_equal(quorum_packet_frame(packet->bytes, packet->size,
                                             JUTE_MAXBUFFER_DEFAULT_BYTES, &packet_bytes),
                         QUORUM_WIRE_DONE);
        assert_int_equal(packet_bytes, packet->size);
        for (size_t size = 0; size < packet->size; size++) {
            assert_int_equal(quorum_packet_frame(packet->bytes, size,
                                                 JUTE_MAXBUFFER_DEFAULT_BYTES, &packet_bytes),
                             QUORUM_WIRE_NEED_MORE);
        }
    }
    /* back to back: the first one's length */
    size_t both_size = sizeof(golden_packet_request_auth) + sizeof(golden_packet_ping_leader);
    uint8_t *both = malloc(both_size);
    assert_non_null(both);
    memcpy(both, golden_packet_request_auth, sizeof(golden_packet_request_auth));
    memcpy(both + sizeof(golden_packet_request_auth), golden_packet_ping_leader,
           sizeof(golden_packet_ping_leader));
    size_t packet_bytes = 0;
    assert_int_equal(quorum_packet_frame(both, both_size, 64, &packet_bytes), QUORUM_WIRE_DONE);
    assert_int_equal(packet_bytes, sizeof(golden_packet_request_auth));
    free(both);
}

static void test_packet_frame_malformed(void **state)
{
    (void)state;
    size_t packet_bytes = 0;
    size_t size = sizeof(golden_packet_request_auth);
    uint8_t *packet = copy_of(golden_packet_request_auth, size);
    const size_t data_len_at = 12;
    int32_t data_len = (int32_t)jute_load_be32(packet + data_len_at);
    const size_t auth_count_at = data_len_at + 4 + (size_t)data_len;

    /* the data buffer: over the limit, exactly at it, negative */
    assert_int_equal(quorum_packet_frame(packet, size, (size_t)data_len - 1, &packet_bytes),
                     QUORUM_WIRE_MALFORMED);
    assert_int_equal(quorum_packet_frame(packet, size, (size_t)data_len, &packet_bytes),
                     QUORUM_WIRE_DONE);
    store_be32_signed(packet + data_len_at, -2);
    assert_int_equal(quorum_packet_frame(packet, size, 1024, &packet_bytes),
                     QUORUM_WIRE_MALFORMED);
    store_be32_signed(packet + data_len_at, data_len);

    /* authinfo counts */
    store_be32_signed(packet + auth_count_at, -2);
    assert_int_equal(quorum_packet_frame(packet, size, 1024, &packet_bytes),
                     QUORUM_WIRE_MALFORMED);
    store_be32_signed(packet + auth_count_at, QUORUM_PACKET_AUTH_IDS_MAX + 1);
    assert_int_equal(quorum_packet_frame(packet, size, 1024, &packet_bytes),
                     QUORUM_WIRE_MALFORMED);
    store_be32_signed(packet + auth_count_at, 3); /* a third id has not arrived */
    assert_int_equal(quorum_packet_frame(packet, size, 1024, &packet_bytes),
                     QUORUM_WIRE_NEED_MORE);
    store_be32_signed(packet + auth_count_at, 2);

    /* an authinfo string: "digest" is 6 bytes */
    assert_int_equal(quorum_packet_frame(packet, size, (size_t)data_len, &packet_bytes),
                     QUORUM_WIRE_DONE);
    store_be32_signed(packet + auth_count_at + 4, -3);
    assert_int_equal(quorum_packet_frame(packet, size, 1024, &packet_bytes),
                     QUORUM_WIRE_MALFORMED);
    store_be32_signed(packet + auth_count_at + 4, 2000);
    assert_int_equal(quorum_packet_frame(packet, size, 1024, &packet_bytes),
                     QUORUM_WIRE_MALFORMED);
    free(packet);
}

/* Encodes a packet and checks it against ZooKeeper's bytes. */
static void assert_packet_encodes_to(int32_t type, int64_t zxid, const uint8_t *data,
                                     size_t data_bytes, const uint8_t *expected,
                                     size_t expected_size)
{
    struct jute_writer writer;
    jute_writer_init(&writer, WRITER_LIMIT_BYTES);
    quorum_packet_encode(&writer, type, zxid, data, data_bytes);
    assert_writer_equal(&writer, expected, expected_size);
    jute_writer_free(&writer);
}

/* The data of a golden packet, through the jute record decoder. */
static struct jute_bytes packet_data(const uint8_t *packet, size_t size,
                                     struct jute_quorum_packet *decoded)
{
    static uint8_t arena_bytes[4096];
    struct jute_arena arena;
    jute_arena_init(&arena, arena_bytes, sizeof(arena_bytes));
    struct jute_reader reader;
    jute_reader_init(&reader, packet, size);
    assert_true(jute_quorum_packet_decode(&reader, &arena, decoded));
    assert_int_equal(reader.offset, size);
    return decoded->data;
}

static void test_packet_encode_matches_zookeeper(void **state)
{
    (void)state;
    assert_packet_encodes_to(QUORUM_PING, quorum_zxid_make(1, 3), NULL, 0,
                             golden_packet_ping_leader, sizeof(golden_packet_ping_leader));
    assert_packet_encodes_to(QUORUM_PING, quorum_zxid_make(1, 3), golden_ping_data,
                             sizeof(golden_ping_data), golden_packet_ping_learner,
                             sizeof(golden_packet_ping_learner));
    assert_packet_encodes_to(QUORUM_REQUEST, -1, golden_request_data,
                             sizeof(golden_request_data), golden_packet_request,
                             sizeof(golden_packet_request));
    assert_packet_encodes_to(QUORUM_REVALIDATE, -1, golden_revalidate_request,
                             sizeof(golden_revalidate_request), golden_packet_revalidate,
                             sizeof(golden_packet_revalidate));

    struct jute_writer data;
    jute_writer_init(&data, WRITER_LIMIT_BYTES);
    quorum_int32_encode(&data, QUORUM_ZAB_PROTOCOL_VERSION);
    assert_packet_encodes_to(QUORUM_LEADERINFO, quorum_zxid_make(2, 0), data.data, data.size,
                             golden_packet_leaderinfo, sizeof(golden_packet_leaderinfo));
    jute_writer_reset(&data);
    quorum_int32_encode(&data, -1);
    assert_packet_encodes_to(QUORUM_ACKEPOCH, quorum_zxid_make(1, 9), data.data, data.size,
                             golden_packet_ackepoch, sizeof(golden_packet_ackepoch));
    jute_writer_reset(&data);
    const struct jute_learner_info info = {3, QUORUM_ZAB_PROTOCOL_VERSION, 0x100000000LL};
    jute_learner_info_encode(&data, &info);
    assert_packet_encodes_to(QUORUM_FOLLOWERINFO, quorum_zxid_make(1, 0), data.data, data.size,
                             golden_packet_followerinfo, sizeof(golden_packet_followerinfo));
    jute_writer_free(&data);
}

static void test_int32_payloads(void **state)
{
    (void)state;
    struct jute_quorum_packet packet;
    int32_t value = 0;
    struct jute_bytes data =
        packet_data(golden_packet_leaderinfo, sizeof(golden_packet_leaderinfo), &packet);
    assert_int_equal(packet.type, QUORUM_LEADERINFO);
    assert_true(quorum_int32_decode(data, &value));
    assert_int_equal(value, QUORUM_ZAB_PROTOCOL_VERSION);
    data = packet_data(golden_packet_ackepoch, sizeof(golden_packet_ackepoch), &packet);
    assert_int_equal(packet.type, QUORUM_ACKEPOCH);
    assert_true(quorum_int32_decode(data, &value));
    assert_int_equal(value, -1);
    for (int32_t len = 0; len < 4; len++) {
        assert_false(quorum_int32_decode(jute_bytes_of(data.ptr, len), &value));
    }
    assert_false(quorum_int32_decode(jute_bytes_of(NULL, -1), &value));
}

/* ---- payloads ---------------------------------------------------------- */

static void test_request_payload(void **state)
{
    (void)state;
    const uint8_t body[] = {0, 0, 0, 2, '/', 'a', 0xff, 0xff, 0xff, 0xff};
    struct jute_writer writer;
    jute_writer_init(&writer, WRITER_LIMIT_BYTES);
    quorum_request_encode(&writer, 0x1000001abcd0000LL, 7, 1, body, sizeof(body));
    assert_writer_equal(&writer, golden_request_data, sizeof(golden_request_data));
    jute_writer_free(&writer);

    struct jute_quorum_packet packet;
    struct jute_bytes data =
        packet_data(golden_packet_request_auth, sizeof(golden_packet_request_auth), &packet);
    assert_int_equal(packet.authinfo.count, 2);
    struct quorum_request request;
    assert_true(quorum_request_decode(data, &request));
    assert_int_equal(request.session_id, 0x1000001abcd0000LL);
    assert_int_equal(request.cxid, 7);
    assert_int_equal(request.opcode, 1);
    assert_true(jute_bytes_equal(request.body, bytes_of(body, sizeof(body))));
    /* a request with no body (e.g. closeSession) */
    assert_true(quorum_request_decode(jute_bytes_of(data.ptr, 16), &request));
    assert_int_equal(request.body.len, 0);
    for (int32_t len = 0; len < 16; len++) {
        assert_false(quorum_request_decode(jute_bytes_of(data.ptr, len), &request));
    }
    assert_false(quorum_request_decode(jute_bytes_of(NULL, -1), &request));
}

struct touches_seen {
    struct quorum_session_touch touches[4];
    size_t count;
};

static void record_touch(void *context, const struct quorum_session_touch *touch)
{
    struct touches_seen *seen = context;
    assert_true(seen->count < 4);
    seen->touches[seen->count++] = *touch;
}

static void test_ping_payload(void **state)
{
    (void)state;
    const struct quorum_session_touch touches[] = {{0x1000001abcd0000LL, 30000},
                                                   {0x2000000000000ffLL, 4000}};
    struct jute_writer writer;
    jute_writer_init(&writer, WRITER_LIMIT_BYTES);
    quorum_ping_encode(&writer, touches, 2);
    assert_writer_equal(&writer, golden_ping_data, sizeof(golden_ping_data));
    jute_writer_free(&writer);

    struct touches_seen seen = {0};
    assert_true(quorum_ping_decode(bytes_of(golden_ping_data, sizeof(golden_ping_data)),
                                   record_touch, &seen));
    assert_int_equal(seen.count, 2);
    assert_int_equal(seen.touches[0].session_id, 0x1000001abcd0000LL);
    assert_int_equal(seen.touches[0].timeout_ms, 30000);
    assert_int_equal(seen.touches[1].session_id, 0x2000000000000ffLL);
    assert_int_equal(seen.touches[1].timeout_ms, 4000);
    /* the leader's PING: null data, no sessions; an empty learner PING */
    seen.count = 0;
    assert_true(quorum_ping_decode(jute_bytes_of(NULL, -1), record_touch, &seen));
    assert_true(quorum_ping_decode(jute_bytes_of(golden_ping_data, 0), record_touch, &seen));
    assert_int_equal(seen.count, 0);
    /* not whole pairs: false, and nothing visited */
    for (int32_t len = 1; len < (int32_t)sizeof(golden_ping_data); len++) {
        if (len == 12) {
            continue;
        }
        seen.count = 0;
        assert_false(quorum_ping_decode(jute_bytes_of(golden_ping_data, len), record_touch,
                                        &seen));
        assert_int_equal(seen.count, 0);
    }
}

static void test_revalidate_payloads(void **state)
{
    (void)state;
    struct jute_writer writer;
    jute_writer_init(&writer, WRITER_LIMIT_BYTES);
    quorum_revalidate_request_encode(&writer, 0x1000001abcd0001LL, 10000);
    assert_writer_equal(&writer, golden_revalidate_request, sizeof(golden_revalidate_request));
    jute_writer_reset(&writer);
    quorum_revalidate_reply_encode(&writer, 0x1000001abcd0001LL, true);
    assert_writer_equal(&writer, golden_revalidate_reply, sizeof(golden_revalidate_reply));
    jute_writer_free(&writer);

    int64_t session_id = 0;
    int32_t timeout_ms = 0;
    assert_true(quorum_revalidate_request_decode(
        bytes_of(golden_revalidate_request, sizeof(golden_revalidate_request)), &session_id,
        &timeout_ms));
    assert_int_equal(session_id, 0x1000001abcd0001LL);
    assert_int_equal(timeout_ms, 10000);
    for (int32_t len = 0; len < 12; len++) {
        assert_false(quorum_revalidate_request_decode(
            jute_bytes_of(golden_revalidate_request, len), &session_id, &timeout_ms));
    }

    bool valid = false;
    assert_true(quorum_revalidate_reply_decode(
        bytes_of(golden_revalidate_reply, sizeof(golden_revalidate_reply)), &session_id, &valid));
    assert_int_equal(session_id, 0x1000001abcd0001LL);
    assert_true(valid);
    for (int32_t len = 0; len < 9; len++) {
        assert_false(quorum_revalidate_reply_decode(jute_bytes_of(golden_revalidate_reply, len),
                                                    &session_id, &valid));
    }
    uint8_t reply[9];
    memcpy(reply, golden_revalidate_reply, 9);
    reply[8] = 0;
    assert_true(quorum_revalidate_reply_decode(bytes_of(reply, 9), &session_id, &valid));
    assert_false(valid);
    reply[8] = 2; /* DataInputStream.readBoolean: any non-zero byte */
    assert_true(quorum_revalidate_reply_decode(bytes_of(reply, 9), &session_id, &valid));
    assert_true(valid);
    assert_false(quorum_revalidate_reply_decode(jute_bytes_of(NULL, -1), &session_id, &valid));
}

/* ---- SNAP stream ------------------------------------------------------- */

static void test_snap_stream_frame(void **state)
{
    (void)state;
    size_t stream_bytes = 0;
    assert_int_equal(quorum_snap_stream_frame(golden_snap_stream, sizeof(golden_snap_stream),
                                              &stream_bytes),
                     QUORUM_WIRE_DONE);
    assert_int_equal(stream_bytes, sizeof(golden_snap_stream));
    for (size_t size = 0; size < sizeof(golden_snap_stream); size++) {
        assert_int_equal(quorum_snap_stream_frame(golden_snap_stream, size, &stream_bytes),
                         QUORUM_WIRE_NEED_MORE);
    }
    /* the packets that follow (NEWLEADER, ...) are not part of it */
    size_t longer_size = sizeof(golden_snap_stream) + sizeof(golden_packet_ping_leader);
    uint8_t *longer = malloc(longer_size);
    assert_non_null(longer);
    memcpy(longer, golden_snap_stream, sizeof(golden_snap_stream));
    memcpy(longer + sizeof(golden_snap_stream), golden_packet_ping_leader,
           sizeof(golden_packet_ping_leader));
    assert_int_equal(quorum_snap_stream_frame(longer, longer_size, &stream_bytes),
                     QUORUM_WIRE_DONE);
    assert_int_equal(stream_bytes, sizeof(golden_snap_stream));
    free(longer);
}

static void test_snap_scan_resumes(void **state)
{
    (void)state;
    struct quorum_snap_scan scan;
    quorum_snap_scan_init(&scan, QUORUM_SNAP_STRING_BYTES_MAX_DEFAULT);
    size_t stream_bytes = 0;
    /* one byte more each time: the scan never goes back */
    for (size_t size = 0; size < sizeof(golden_snap_stream); size++) {
        size_t offset_before = scan.offset;
        assert_int_equal(quorum_snap_scan_feed(&scan, golden_snap_stream, size, &stream_bytes),
                         QUORUM_WIRE_NEED_MORE);
        assert_true(scan.offset >= offset_before && scan.offset <= size);
    }
    assert_int_equal(quorum_snap_scan_feed(&scan, golden_snap_stream, sizeof(golden_snap_stream),
                                           &stream_bytes),
                     QUORUM_WIRE_DONE);
    assert_int_equal(stream_bytes, sizeof(golden_snap_stream));
    assert_int_equal(scan.session_count, golden_snap_sessions);
    assert_int_equal(scan.acl_list_count, 3);
    assert_int_equal(scan.node_count, golden_snap_nodes);
    /* DONE stays DONE */
    assert_int_equal(quorum_snap_scan_feed(&scan, golden_snap_stream, sizeof(golden_snap_stream),
                                           &stream_bytes),
                     QUORUM_WIRE_DONE);
}

/* Where the scan stands when it first reaches `phase`. */
static size_t snap_offset_of_phase(enum quorum_snap_phase phase)
{
    struct quorum_snap_scan scan;
    quorum_snap_scan_init(&scan, QUORUM_SNAP_STRING_BYTES_MAX_DEFAULT);
    size_t stream_bytes = 0;
    for (size_t size = 0; size <= sizeof(golden_snap_stream); size++) {
        (void)quorum_snap_scan_feed(&scan, golden_snap_stream, size, &stream_bytes);
        if (scan.phase >= phase) {
            return scan.offset;
        }
    }
    fail();
    return 0;
}

static enum quorum_wire_status frame_corrupted(size_t at, int32_t value)
{
    uint8_t *stream = copy_of(golden_snap_stream, sizeof(golden_snap_stream));
    store_be32_signed(stream + at, value);
    size_t stream_bytes = 0;
    enum quorum_wire_status status =
        quorum_snap_stream_frame(stream, sizeof(golden_snap_stream), &stream_bytes);
    free(stream);
    return status;
}

static void test_snap_stream_malformed(void **state)
{
    (void)state;
    const size_t size = sizeof(golden_snap_stream);
    /* session count, ACL cache count, first ACL list's length */
    assert_int_equal(frame_corrupted(0, -1), QUORUM_WIRE_MALFORMED);
    const size_t acl_count_at = 4 + 12 * golden_snap_sessions;
    assert_int_equal(frame_corrupted(acl_count_at, -1), QUORUM_WIRE_MALFORMED);
    assert_int_equal(frame_corrupted(acl_count_at + 4 + 8, -1), QUORUM_WIRE_MALFORMED);
    assert_int_equal(frame_corrupted(acl_count_at + 4 + 8, QUORUM_SNAP_ACLS_PER_LIST_MAX + 1),
                     QUORUM_WIRE_MALFORMED);
    /* an ACL's scheme string */
    assert_int_equal(frame_corrupted(acl_count_at + 4 + 8 + 4 + 4, -2), QUORUM_WIRE_MALFORMED);

    /* the first node's path: null, negative, over the limit */
    const size_t nodes_at = snap_offset_of_phase(QUORUM_SNAP_NODES);
    assert_int_equal(jute_load_be32(golden_snap_stream + nodes_at), 0); /* the root, "" */
    assert_int_equal(frame_corrupted(nodes_at, -1), QUORUM_WIRE_MALFORMED);
    assert_int_equal(frame_corrupted(nodes_at, -7), QUORUM_WIRE_MALFORMED);
    assert_int_equal(frame_corrupted(nodes_at, (int32_t)QUORUM_SNAP_STRING_BYTES_MAX_DEFAULT + 1),
                     QUORUM_WIRE_MALFORMED);
    /* its data buffer: null is fine (the tree terminator is still found) */
    assert_int_equal(frame_corrupted(nodes_at + 4, -2), QUORUM_WIRE_MALFORMED);

    /* a limit below the longest string ("hello" is 5 bytes of data) */
    struct quorum_snap_scan scan;
    quorum_snap_scan_init(&scan, 4);
    size_t stream_bytes = 0;
    assert_int_equal(quorum_snap_scan_feed(&scan, golden_snap_stream, size, &stream_bytes),
                     QUORUM_WIRE_MALFORMED);
    /* MALFORMED stays MALFORMED */
    assert_int_equal(quorum_snap_scan_feed(&scan, golden_snap_stream, size, &stream_bytes),
                     QUORUM_WIRE_MALFORMED);

    /* the signature: its length, then its text */
    const size_t signature_at = snap_offset_of_phase(QUORUM_SNAP_SIGNATURE);
    assert_int_equal(signature_at + 4 + 10, size);
    assert_int_equal(frame_corrupted(signature_at, 9), QUORUM_WIRE_MALFORMED);
    assert_int_equal(frame_corrupted(signature_at, -1), QUORUM_WIRE_MALFORMED);
    uint8_t *stream = copy_of(golden_snap_stream, size);
    stream[size - 1] = 'E';
    assert_int_equal(quorum_snap_stream_frame(stream, size, &stream_bytes),
                     QUORUM_WIRE_MALFORMED);
    free(stream);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zxid_helpers),
        cmocka_unit_test(test_election_frame),
        cmocka_unit_test(test_handshake_encode_matches_zookeeper),
        cmocka_unit_test(test_handshake_decode),
        cmocka_unit_test(test_handshake_old_peer_sends_bare_sid),
        cmocka_unit_test(test_handshake_malformed),
        cmocka_unit_test(test_config_text_matches_zookeeper),
        cmocka_unit_test(test_config_text_large_ensemble_order),
        cmocka_unit_test(test_notification_encode_matches_zookeeper),
        cmocka_unit_test(test_notification_decode),
        cmocka_unit_test(test_notification_older_formats),
        cmocka_unit_test(test_notification_malformed),
        cmocka_unit_test(test_packet_frame),
        cmocka_unit_test(test_packet_frame_malformed),
        cmocka_unit_test(test_packet_encode_matches_zookeeper),
        cmocka_unit_test(test_int32_payloads),
        cmocka_unit_test(test_request_payload),
        cmocka_unit_test(test_ping_payload),
        cmocka_unit_test(test_revalidate_payloads),
        cmocka_unit_test(test_snap_stream_frame),
        cmocka_unit_test(test_snap_scan_resumes),
        cmocka_unit_test(test_snap_stream_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
