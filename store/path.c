/* PathUtils.validatePath over the UTF-8 bytes of a path: the Java check
 * runs on UTF-16 code units, so it is reproduced on decoded code points
 * (a supplementary character is a surrogate pair there, which is refused;
 * malformed UTF-8 decodes to U+FFFD there, which is refused too). */
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

/* Decodes one code point; returns its byte count, or 0 when malformed. */
static size_t utf8_next(const uint8_t *at, size_t left, uint32_t *code_point)
{
    uint8_t lead = at[0];
    if (lead < 0x80) {
        *code_point = lead;
        return 1;
    }
    size_t size;
    uint32_t value;
    uint32_t minimum;
    if ((lead & 0xE0) == 0xC0) {
        size = 2;
        value = lead & 0x1F;
        minimum = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
        size = 3;
        value = lead & 0x0F;
        minimum = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
        size = 4;
        value = lead & 0x07;
        minimum = 0x10000;
    } else {
        return 0;
    }
    if (left < size) {
        return 0;
    }
    for (size_t i = 1; i < size; i++) {
        if ((at[i] & 0xC0) != 0x80) {
            return 0;
        }
        value = (value << 6) | (at[i] & 0x3F);
    }
    if (value < minimum || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
        return 0;
    }
    *code_point = value;
    return size;
}

static bool code_point_allowed(uint32_t c)
{
    if (c >= 0x10000) {
        return false; /* a surrogate pair in Java: \ud800-\uf8ff is refused */
    }
    if ((c > 0x0000 && c <= 0x001F) || (c >= 0x007F && c <= 0x009F) ||
        (c >= 0xD800 && c <= 0xF8FF) || (c >= 0xFFF0)) {
        return false;
    }
    return true;
}

static int validate(const uint8_t *path, size_t len)
{
    if (len == 0 || path[0] != '/') {
        return ZK_BADARGUMENTS;
    }
    if (len == 1) {
        return ZK_OK;
    }
    if (path[len - 1] == '/') {
        return ZK_BADARGUMENTS;
    }
    /* Component rules: no empty names, no "." or ".." names, no NUL. */
    size_t start = 1;
    for (size_t at = 1; at <= len; at++) {
        if (at == len || path[at] == '/') {
            size_t name_len = at - start;
            if (name_len == 0) {
                return ZK_BADARGUMENTS;
            }
            if ((name_len == 1 && path[start] == '.') ||
                (name_len == 2 && path[start] == '.' && path[start + 1] == '.')) {
                return ZK_BADARGUMENTS;
            }
            start = at + 1;
        }
    }
    for (size_t at = 0; at < len;) {
        uint32_t c;
        size_t size = utf8_next(path + at, len - at, &c);
        if (size == 0 || c == 0 || !code_point_allowed(c)) {
            return ZK_BADARGUMENTS;
        }
        at += size;
    }
    return ZK_OK;
}

int store_path_validate(struct jute_bytes path, bool allow_sequential_suffix)
{
    /* No length limit: ZooKeeper has none beyond the request's frame. */
    if (path.len <= 0) {
        return ZK_BADARGUMENTS;
    }
    if (!allow_sequential_suffix) {
        return validate(path.ptr, (size_t)path.len);
    }
    /* validatePath(path + "1"), as ZooKeeper checks a sequential create. */
    size_t len = (size_t)path.len;
    uint8_t *buffer = malloc(len + 1);
    if (!buffer) {
        return ZK_BADARGUMENTS;
    }
    memcpy(buffer, path.ptr, len);
    buffer[len] = '1';
    int rc = validate(buffer, len + 1);
    free(buffer);
    return rc;
}

bool store_path_is_special(const uint8_t *path, size_t len)
{
    static const char *const special[] = {"/", "/zookeeper", STORE_QUOTA_PATH,
                                          STORE_CONFIG_PATH};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
        if (strlen(special[i]) == len && memcmp(special[i], path, len) == 0) {
            return true;
        }
    }
    return false;
}
