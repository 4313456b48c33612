/* cheetah-logdump: prints a transaction log (ZooKeeper 3.8's log.<zxid>
 * format, Cheetah's or ZooKeeper's) one transaction a line, like
 * ZooKeeper's TxnLogToolkit:
 *
 *   <time UTC> session 0x.. cxid 0x.. zxid 0x.. <type> <record fields>
 *
 * Exit status: 0 when the log ends cleanly or with a torn final record
 * (reported on stderr; recovery truncates it), 1 on corruption (file and
 * offset on stderr), 2 on usage or I/O errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jute/records.h"
#include "jute/zk_constants.h"
#include "store/txnlog.h"

/* Largest log file read whole into memory. */
#define LOGDUMP_FILE_BYTES_MAX ((size_t)4 << 30)
/* Bytes of data printed per znode value before "...". */
#define LOGDUMP_DATA_PRINT_BYTES_MAX 64
/* Arena for decoding one record's vectors (ACLs, multi sub-txns). */
#define LOGDUMP_ARENA_BYTES ((size_t)8 << 20)

struct file_bytes {
    uint8_t *data;
    size_t size;
};

static int read_file(const char *path, struct file_bytes *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct stat info;
    if (fstat(fd, &info) != 0 || info.st_size < 0 ||
        (uint64_t)info.st_size > LOGDUMP_FILE_BYTES_MAX) {
        int err = errno ? -errno : -EFBIG;
        close(fd);
        return err;
    }
    size_t size = (size_t)info.st_size;
    uint8_t *data = malloc(size ? size : 1);
    if (!data) {
        close(fd);
        return -ENOMEM;
    }
    size_t done = 0;
    while (done < size) {
        ssize_t got = read(fd, data + done, size - done);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            int err = got < 0 ? -errno : -EIO;
            free(data);
            close(fd);
            return err;
        }
        done += (size_t)got;
    }
    close(fd);
    out->data = data;
    out->size = size;
    return 0;
}

/* A ustring or buffer, quoted; bytes outside printable ASCII as \xNN. */
static void print_bytes(struct jute_bytes bytes)
{
    if (bytes.len < 0) {
        fputs("null", stdout);
        return;
    }
    putchar('"');
    int32_t shown = bytes.len < LOGDUMP_DATA_PRINT_BYTES_MAX ? bytes.len
                                                              : LOGDUMP_DATA_PRINT_BYTES_MAX;
    for (int32_t i = 0; i < shown; i++) {
        uint8_t c = bytes.ptr[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            putchar(c);
        } else {
            printf("\\x%02x", c);
        }
    }
    putchar('"');
    if (shown < bytes.len) {
        printf("...(%" PRId32 " bytes)", bytes.len);
    }
}

static void print_acl(const struct jute_acl_vector *acl)
{
    putchar('[');
    for (int32_t i = 0; i < acl->count; i++) {
        const struct jute_acl *entry = &acl->items[i];
        printf("%s%" PRId32 ":%.*s:%.*s", i ? "," : "", entry->perms,
               entry->id.scheme.len > 0 ? (int)entry->id.scheme.len : 0,
               (const char *)entry->id.scheme.ptr,
               entry->id.id.len > 0 ? (int)entry->id.id.len : 0,
               (const char *)entry->id.id.ptr);
    }
    putchar(']');
}

static void print_path(const char *name, struct jute_bytes path)
{
    printf(" %s=%.*s", name, path.len > 0 ? (int)path.len : 0, (const char *)path.ptr);
}

static bool print_record(int32_t type, struct jute_bytes record, struct jute_arena *arena);

static bool print_multi(struct jute_reader *reader, struct jute_arena *arena)
{
    struct jute_multi_txn multi;
    if (!jute_multi_txn_decode(reader, arena, &multi)) {
        return false;
    }
    fputs(" [", stdout);
    for (int32_t i = 0; i < multi.txns.count; i++) {
        const struct jute_txn *sub = &multi.txns.items[i];
        printf("%s%s", i ? "; " : "", store_txnlog_type_name(sub->type));
        if (!print_record(sub->type, sub->data, arena)) {
            return false;
        }
    }
    putchar(']');
    return true;
}

/* Prints " field=value ..." for a record of `type`. */
static bool print_record(int32_t type, struct jute_bytes record, struct jute_arena *arena)
{
    struct jute_reader reader;
    jute_reader_init(&reader, record.ptr, record.len > 0 ? (size_t)record.len : 0);
    switch (type) {
    case ZK_OP_CREATE_SESSION: {
        struct jute_create_session_txn txn;
        if (!jute_create_session_txn_decode(&reader, arena, &txn)) {
            return false;
        }
        printf(" timeOut=%" PRId32, txn.time_out);
        return true;
    }
    case ZK_OP_CLOSE_SESSION: {
        struct jute_close_session_txn txn;
        if (jute_reader_remaining(&reader) < 4) {
            return true; /* pre-3.6: no record */
        }
        if (!jute_close_session_txn_decode(&reader, arena, &txn)) {
            return false;
        }
        fputs(" paths2Delete=[", stdout);
        for (int32_t i = 0; i < txn.paths2_delete.count; i++) {
            struct jute_bytes path = txn.paths2_delete.items[i];
            printf("%s%.*s", i ? "," : "", path.len > 0 ? (int)path.len : 0,
                   (const char *)path.ptr);
        }
        putchar(']');
        return true;
    }
    case ZK_OP_ERROR: {
        struct jute_error_txn txn;
        if (!jute_error_txn_decode(&reader, arena, &txn)) {
            return false;
        }
        printf(" err=%" PRId32, txn.err);
        return true;
    }
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2: {
        struct jute_create_txn txn;
        if (!jute_create_txn_decode(&reader, arena, &txn)) {
            return false;
        }
        print_path("path", txn.path);
        fputs(" data=", stdout);
        print_bytes(txn.data);
        fputs(" acl=", stdout);
        print_acl(&txn.acl);
        printf(" ephemeral=%s parentCVersion=%" PRId32, txn.ephemeral ? "true" : "false",
               txn.parent_c_version);
        return true;
    }
    case ZK_OP_CREATE_TTL: {
        struct jute_create_ttl_txn txn;
        if (!jute_create_ttl_txn_decode(&reader, arena, &txn)) {
            return false;
        }
        print_path("path", txn.path);
        fputs(" data=", stdout);
        print_bytes(txn.data);
        fputs(" acl=", stdout);
        print_acl(&txn.acl);
        printf(" parentCVersion=%" PRId32 " ttl=%" PRId64, txn.parent_c_version, txn.ttl);
        return true;
    }
    case ZK_OP_CREATE_CONTAINER: {
        struct jute_create_container_txn txn;
        if (!jute_create_container_txn_decode(&reader, arena, &txn)) {
            return false;
        }
        print_path("path", txn.path);
        fputs(" data=", stdout);
        print_bytes(txn.data);
        fputs(" acl=", stdout);
        print_acl(&txn.acl);
        printf(" parentCVersion=%" PRId32, txn.parent_c_version);
        return true;
    }
    case ZK_OP_DELETE:
    case ZK_OP_DELETE_CONTAINER: {
        struct jute_delete_txn txn;
        if (!jute_delete_txn_decode(&reader, arena, &txn)) {
            return false;
        }
        print_path("path", txn.path);
        return true;
    }
    case ZK_OP_SET_DATA:
    case ZK_OP_RECONFIG: {
        struct jute_set_data_txn txn;
        if (!jute_set_data_txn_decode(&reader, arena, &txn)) {
            return false;
        }
        print_path("path", txn.path);
        fputs(" data=", stdout);
        print_bytes(txn.data);
        printf(" version=%" PRId32, txn.version);
        return true;
    }
    case ZK_OP_CHECK: {
        struct jute_check_version_txn txn;
        if (!jute_check_version_txn_decode(&reader, arena, &txn)) {
            return false;
        }
        print_path("path", txn.path);
        printf(" version=%" PRId32, txn.version);
        return true;
    }
    case ZK_OP_SET_ACL: {
        struct jute_set_acl_txn txn;
        if (!jute_set_acl_txn_decode(&reader, arena, &txn)) {
            return false;
        }
        print_path("path", txn.path);
        fputs(" acl=", stdout);
        print_acl(&txn.acl);
        printf(" version=%" PRId32, txn.version);
        return true;
    }
    case ZK_OP_MULTI:
        return print_multi(&reader, arena);
    default:
        return false;
    }
}

static void print_time(int64_t time_ms)
{
    time_t seconds = (time_t)(time_ms / 1000);
    struct tm utc;
    char text[64];
    if (gmtime_r(&seconds, &utc) && strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &utc)) {
        printf("%s.%03d UTC", text, (int)(time_ms % 1000 + (time_ms % 1000 < 0 ? 1000 : 0)));
    } else {
        printf("%" PRId64 "ms", time_ms);
    }
}

static void print_entry(const struct store_txnlog_entry *entry, struct jute_arena *arena)
{
    const struct jute_txn_header *header = &entry->header;
    print_time(header->time);
    /* TxnLogToolkit prints cxid widened to a long, so -1 is ffffffffffffffff. */
    printf(" session 0x%" PRIx64 " cxid 0x%" PRIx64 " zxid 0x%" PRIx64 " %s",
           (uint64_t)header->client_id, (uint64_t)(int64_t)header->cxid,
           (uint64_t)header->zxid, store_txnlog_type_name(header->type));
    struct jute_bytes record = jute_bytes_of(entry->txn.ptr + STORE_TXNLOG_TXN_HEADER_BYTES,
                                             entry->txn.len -
                                                 (int32_t)STORE_TXNLOG_TXN_HEADER_BYTES);
    arena->used_bytes = 0;
    if (!print_record(header->type, record, arena)) {
        fputs(" <record not printable>", stdout);
    }
    if (entry->has_digest) {
        printf(" digest=%" PRId32 ":0x%" PRIx64, entry->digest.version,
               (uint64_t)entry->digest.tree_digest);
    }
    putchar('\n');
}

int main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: cheetah-logdump <version-2/log.N file>\n");
        return 2;
    }
    const char *path = argv[1];
    struct file_bytes file = {NULL, 0};
    int err = read_file(path, &file);
    if (err != 0) {
        fprintf(stderr, "cheetah-logdump: %s: %s\n", path, strerror(-err));
        return 2;
    }
    void *arena_base = malloc(LOGDUMP_ARENA_BYTES);
    if (!arena_base) {
        fprintf(stderr, "cheetah-logdump: out of memory\n");
        free(file.data);
        return 2;
    }
    struct jute_arena arena;
    jute_arena_init(&arena, arena_base, LOGDUMP_ARENA_BYTES);

    struct store_txnlog_reader reader;
    enum store_txnlog_status status =
        store_txnlog_reader_init(&reader, file.data, file.size, JUTE_MAXBUFFER_DEFAULT_BYTES);
    if (status == STORE_TXNLOG_ENTRY) {
        printf("ZooKeeper Transactional Log File with dbid %" PRId64
               " txnlog format version %" PRId32 "\n",
               reader.file_header.dbid, reader.file_header.version);
        struct store_txnlog_entry entry;
        while ((status = store_txnlog_next(&reader, &entry)) == STORE_TXNLOG_ENTRY) {
            print_entry(&entry, &arena);
        }
    }
    int exit_code = 0;
    switch (status) {
    case STORE_TXNLOG_END_CLEAN:
        printf("EOF reached after %" PRIu64 " txns.\n", reader.entries_read);
        break;
    case STORE_TXNLOG_END_TORN:
        printf("EOF reached after %" PRIu64 " txns.\n", reader.entries_read);
        fprintf(stderr, "cheetah-logdump: %s: torn final record at offset %" PRIu64 ": %s\n",
                path, reader.end_offset_bytes, reader.reason);
        break;
    case STORE_TXNLOG_CORRUPT:
    default:
        fflush(stdout);
        fprintf(stderr, "cheetah-logdump: %s: corrupt at offset %" PRIu64 " (after %" PRIu64
                        " txns): %s\n",
                path, reader.end_offset_bytes, reader.entries_read, reader.reason);
        exit_code = 1;
        break;
    }
    free(arena_base);
    free(file.data);
    return exit_code;
}
