/* SHA-1 (FIPS 180-4) and base64, for the digest scheme's ids:
 * DigestAuthenticationProvider.generateDigest("user:password") =
 * "user:" + base64(sha1("user:password")). */
#include <string.h>

#include "store/store_internal.h"

#define SHA1_DIGEST_BYTES 20u
#define SHA1_BLOCK_BYTES 64u

struct sha1 {
    uint32_t state[5];
    uint64_t length_bytes;
    uint8_t block[SHA1_BLOCK_BYTES];
    size_t block_used;
};

static uint32_t rotl(uint32_t value, int bits)
{
    return (value << bits) | (value >> (32 - bits));
}

static void sha1_block(struct sha1 *sha, const uint8_t *block)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++) {
        w[i] = jute_load_be32(block + 4 * i);
    }
    for (int i = 16; i < 80; i++) {
        w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    }
    uint32_t a = sha->state[0], b = sha->state[1], c = sha->state[2], d = sha->state[3],
             e = sha->state[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999u;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1u;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDCu;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6u;
        }
        uint32_t next = rotl(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rotl(b, 30);
        b = a;
        a = next;
    }
    sha->state[0] += a;
    sha->state[1] += b;
    sha->state[2] += c;
    sha->state[3] += d;
    sha->state[4] += e;
}

static void sha1_init(struct sha1 *sha)
{
    static const uint32_t initial[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u,
                                        0xC3D2E1F0u};
    memcpy(sha->state, initial, sizeof initial);
    sha->length_bytes = 0;
    sha->block_used = 0;
}

static void sha1_update(struct sha1 *sha, const uint8_t *bytes, size_t len)
{
    sha->length_bytes += len;
    while (len > 0) {
        size_t take = SHA1_BLOCK_BYTES - sha->block_used;
        if (take > len) {
            take = len;
        }
        memcpy(sha->block + sha->block_used, bytes, take);
        sha->block_used += take;
        bytes += take;
        len -= take;
        if (sha->block_used == SHA1_BLOCK_BYTES) {
            sha1_block(sha, sha->block);
            sha->block_used = 0;
        }
    }
}

static void sha1_final(struct sha1 *sha, uint8_t digest[SHA1_DIGEST_BYTES])
{
    uint64_t bits = sha->length_bytes * 8;
    uint8_t pad = 0x80;
    sha1_update(sha, &pad, 1);
    uint8_t zero = 0;
    while (sha->block_used != SHA1_BLOCK_BYTES - 8) {
        sha1_update(sha, &zero, 1);
    }
    uint8_t length[8];
    for (int i = 0; i < 8; i++) {
        length[i] = (uint8_t)(bits >> (56 - 8 * i));
    }
    sha1_update(sha, length, 8);
    for (int i = 0; i < 5; i++) {
        jute_store_be32(digest + 4 * i, sha->state[i]);
    }
}

static size_t base64_encode(const uint8_t *bytes, size_t len, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t written = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t chunk = (uint32_t)bytes[i] << 16;
        if (i + 1 < len) {
            chunk |= (uint32_t)bytes[i + 1] << 8;
        }
        if (i + 2 < len) {
            chunk |= bytes[i + 2];
        }
        out[written++] = alphabet[(chunk >> 18) & 63];
        out[written++] = alphabet[(chunk >> 12) & 63];
        out[written++] = i + 1 < len ? alphabet[(chunk >> 6) & 63] : '=';
        out[written++] = i + 2 < len ? alphabet[chunk & 63] : '=';
    }
    return written;
}

int store_digest_id(struct jute_bytes user_password, char *out, size_t out_bytes)
{
    if (user_password.len < 0) {
        return ZK_BADARGUMENTS;
    }
    size_t len = (size_t)user_password.len;
    const uint8_t *colon = len ? memchr(user_password.ptr, ':', len) : NULL;
    /* generateDigest: the user is the text before the first ':' (all of it
     * when there is none); the hash covers the whole text. */
    size_t user_len = colon ? (size_t)(colon - user_password.ptr) : len;
    size_t encoded_len = 4 * ((SHA1_DIGEST_BYTES + 2) / 3);
    if (out_bytes < user_len + 1 + encoded_len + 1) {
        return ZK_BADARGUMENTS;
    }
    struct sha1 sha;
    uint8_t digest[SHA1_DIGEST_BYTES];
    sha1_init(&sha);
    sha1_update(&sha, user_password.ptr, len);
    sha1_final(&sha, digest);
    memcpy(out, user_password.ptr, user_len);
    out[user_len] = ':';
    size_t written = base64_encode(digest, SHA1_DIGEST_BYTES, out + user_len + 1);
    out[user_len + 1 + written] = '\0';
    return ZK_OK;
}
