/* zoo.cfg.dynamic.<version>, zoo.cfg.bak and the zoo.cfg rewrite, as
 * ZooKeeper 3.8's QuorumPeerConfig.writeDynamicConfig, backupOldConfig and
 * editStaticConfig do them. See dynamic_config.h. */
#include "dataplane/dynamic_config.h"

#include "dataplane/config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Room for the zoo.cfg path plus ".dynamic.<16 hex digits>.tmp". */
#define DYNAMIC_CONFIG_PATH_BYTES_MAX (CONFIG_PATH_BYTES_MAX + 64u)
/* The longest key the zoo.cfg rewrite needs to compare (longer keys are
 * kept: none of the dropped ones is that long). */
#define DYNAMIC_CONFIG_KEY_BYTES_MAX 128u
/* write(2) calls for one file before giving up (each writes > 0 bytes or
 * retries after EINTR; a file is at most CONFIG_FILE_BYTES_MAX + a path). */
#define DYNAMIC_CONFIG_WRITE_ATTEMPTS_MAX 4096u
/* The membership is no secret (every member's /zookeeper/config shows it). */
#define DYNAMIC_CONFIG_FILE_MODE 0644

/* Java's String.trim() test: every char <= ' '. */
static bool java_blank(char c)
{
    return (unsigned char)c <= ' ';
}

/* ---- the dynamic file's text ---- */

struct line_span {
    const char *start;
    size_t length;
};

/* Byte order, as Java's String.compareTo on ASCII text. */
static int compare_lines(const void *left, const void *right)
{
    const struct line_span *a = left;
    const struct line_span *b = right;
    size_t common = a->length < b->length ? a->length : b->length;
    int order = memcmp(a->start, b->start, common);
    if (order != 0) {
        return order;
    }
    return (a->length > b->length) - (a->length < b->length);
}

/* "version=<hex>" of the configuration text must say `version` (a caller
 * mixing two configurations would persist the wrong one under this name). */
static int check_version_line(const char *value, size_t length, int64_t version, char *error,
                              size_t error_bytes)
{
    uint64_t parsed = 0;
    bool ok = length > 0 && length <= 16;
    for (size_t index = 0; ok && index < length; index++) {
        char c = value[index];
        unsigned nibble = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                          : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                          : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                                 : 16u;
        ok = nibble < 16u;
        parsed = parsed << 4 | nibble;
    }
    if (!ok || parsed != (uint64_t)version) {
        config_error(error, error_bytes,
                  "configuration text says version=%.*s but version %" PRIx64
                  " was asked for; nothing was written (a bug: the caller must pass the "
                  "configuration's own version)",
                  (int)length, value, (uint64_t)version);
        return -1;
    }
    return 0;
}

/* writeDynamicConfig: the server lines of `config_text`, sorted, joined by
 * '\n', without the version line and without a trailing newline. Returns
 * a malloc'd text (to free) and its length, or NULL with `error`. */
static char *dynamic_file_text(const char *config_text, int64_t version, size_t *text_length,
                               char *error, size_t error_bytes)
{
    struct line_span *lines = calloc(DYNAMIC_CONFIG_LINES_MAX, sizeof *lines);
    if (lines == NULL) {
        config_error(error, error_bytes, "out of memory formatting the dynamic config file");
        return NULL;
    }
    size_t line_count = 0;
    size_t total_bytes = 0;
    const char *cursor = config_text;
    while (*cursor != '\0') {
        const char *newline = strchr(cursor, '\n');
        const char *end = newline != NULL ? newline : cursor + strlen(cursor);
        const char *start = cursor;
        cursor = newline != NULL ? newline + 1 : end;
        while (start < end && java_blank(*start)) {
            start++;
        }
        const char *stop = end;
        while (stop > start && java_blank(stop[-1])) {
            stop--;
        }
        size_t length = (size_t)(stop - start);
        if (length == 0) {
            continue;
        }
        if (length >= strlen("version=") && memcmp(start, "version=", strlen("version=")) == 0) {
            if (check_version_line(start + strlen("version="), length - strlen("version="),
                                   version, error, error_bytes) != 0) {
                free(lines);
                return NULL;
            }
            continue;
        }
        if (length < strlen("server.") || memcmp(start, "server.", strlen("server.")) != 0) {
            config_error(error, error_bytes,
                      "configuration text has the line '%.*s': expected server.N=<spec> lines "
                      "and version=<hex>; nothing was written",
                      (int)length, start);
            free(lines);
            return NULL;
        }
        if (line_count == DYNAMIC_CONFIG_LINES_MAX) {
            config_error(error, error_bytes,
                      "configuration text has more than %u server lines; nothing was written",
                      DYNAMIC_CONFIG_LINES_MAX);
            free(lines);
            return NULL;
        }
        lines[line_count].start = start;
        lines[line_count].length = length;
        line_count++;
        total_bytes += length + 1;
    }
    if (line_count == 0) {
        config_error(error, error_bytes,
                  "configuration text has no server.N lines; nothing was written");
        free(lines);
        return NULL;
    }
    qsort(lines, line_count, sizeof *lines, compare_lines);
    char *text = malloc(total_bytes);
    if (text == NULL) {
        config_error(error, error_bytes, "out of memory formatting the dynamic config file");
        free(lines);
        return NULL;
    }
    size_t written = 0;
    for (size_t index = 0; index < line_count; index++) {
        if (index > 0) {
            text[written++] = '\n';
        }
        memcpy(text + written, lines[index].start, lines[index].length);
        written += lines[index].length;
    }
    assert(written + 1 == total_bytes);
    free(lines);
    *text_length = written;
    return text;
}

/* ---- files ---- */

/* The directory that holds `path` ("." for a bare name). */
static void directory_of(const char *path, char *out, size_t out_bytes)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        snprintf(out, out_bytes, ".");
    } else if (slash == path) {
        snprintf(out, out_bytes, "/");
    } else {
        snprintf(out, out_bytes, "%.*s", (int)(slash - path), path);
    }
}

static int write_all(int descriptor, const char *bytes, size_t length)
{
    size_t written = 0;
    for (unsigned attempt = 0; written < length && attempt < DYNAMIC_CONFIG_WRITE_ATTEMPTS_MAX;
         attempt++) {
        ssize_t result = write(descriptor, bytes + written, length - written);
        if (result < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        written += (size_t)result;
    }
    if (written < length) {
        errno = EIO;
        return -1;
    }
    return 0;
}

/* ZooKeeper's AtomicFileWritingIdiom: <path>.tmp, fsync, rename over
 * <path>, then fsync the directory so the rename itself is durable. */
static int write_file_atomically(const char *path, const char *bytes, size_t length,
                                 mode_t mode, char *error, size_t error_bytes)
{
    char temporary[DYNAMIC_CONFIG_PATH_BYTES_MAX + 8];
    int printed = snprintf(temporary, sizeof temporary, "%s.tmp", path);
    assert(printed > 0 && (size_t)printed < sizeof temporary);
    const char *advice = "check that the directory exists, is writable and has free space, "
                         "then retry (the previous files are unchanged)";
    int descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (descriptor < 0) {
        config_error(error, error_bytes, "cannot create %s: %s; %s", temporary, strerror(errno),
                  advice);
        return -1;
    }
    /* A stale .tmp from a crash keeps its old mode through O_TRUNC. */
    if (fchmod(descriptor, mode) != 0) {
        int saved = errno;
        close(descriptor);
        unlink(temporary);
        config_error(error, error_bytes, "cannot set the mode of %s: %s; %s", temporary,
                  strerror(saved), advice);
        return -1;
    }
    if (write_all(descriptor, bytes, length) != 0 || fsync(descriptor) != 0) {
        int saved = errno;
        close(descriptor);
        unlink(temporary);
        config_error(error, error_bytes, "cannot write %s: %s; %s", temporary, strerror(saved),
                  advice);
        return -1;
    }
    if (close(descriptor) != 0) {
        int saved = errno;
        unlink(temporary);
        config_error(error, error_bytes, "cannot write %s: %s; %s", temporary, strerror(saved),
                  advice);
        return -1;
    }
    if (rename(temporary, path) != 0) {
        int saved = errno;
        unlink(temporary);
        config_error(error, error_bytes, "cannot rename %s to %s: %s; %s", temporary, path,
                  strerror(saved), advice);
        return -1;
    }
    char directory[DYNAMIC_CONFIG_PATH_BYTES_MAX];
    directory_of(path, directory, sizeof directory);
    int directory_descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (directory_descriptor < 0 || fsync(directory_descriptor) != 0) {
        int saved = errno;
        if (directory_descriptor >= 0) {
            close(directory_descriptor);
        }
        config_error(error, error_bytes,
                  "wrote %s but cannot fsync its directory %s: %s; the file may not survive "
                  "a power loss: check the file system, then retry",
                  path, directory, strerror(saved));
        return -1;
    }
    close(directory_descriptor);
    return 0;
}

/* The whole of zoo.cfg (at most CONFIG_FILE_BYTES_MAX bytes), malloc'd,
 * and its permission bits (zoo.cfg may hold the super digest: its rewrite
 * and its .bak keep the operator's mode). */
static char *read_static_config(const char *path, size_t *length, mode_t *mode, char *error,
                                size_t error_bytes)
{
    int descriptor = open(path, O_RDONLY | O_CLOEXEC);
    if (descriptor < 0) {
        config_error(error, error_bytes,
                  "cannot open %s: %s; the new configuration was written to its dynamic file "
                  "but zoo.cfg does not point at it: restore zoo.cfg",
                  path, strerror(errno));
        return NULL;
    }
    struct stat status;
    if (fstat(descriptor, &status) != 0) {
        int saved = errno;
        close(descriptor);
        config_error(error, error_bytes, "cannot stat %s: %s; check the file and retry", path,
                  strerror(saved));
        return NULL;
    }
    *mode = status.st_mode & 07777;
    char *text = malloc(CONFIG_FILE_BYTES_MAX + 1);
    if (text == NULL) {
        close(descriptor);
        config_error(error, error_bytes, "out of memory reading %s", path);
        return NULL;
    }
    size_t size = 0;
    /* Each round reads > 0 bytes, so the file's size bounds the loop. */
    while (size <= CONFIG_FILE_BYTES_MAX) {
        ssize_t result = read(descriptor, text + size, CONFIG_FILE_BYTES_MAX + 1 - size);
        if (result < 0 && errno == EINTR) {
            continue;
        }
        if (result < 0) {
            int saved = errno;
            close(descriptor);
            free(text);
            config_error(error, error_bytes, "cannot read %s: %s; check the file and retry", path,
                      strerror(saved));
            return NULL;
        }
        if (result == 0) {
            break;
        }
        size += (size_t)result;
    }
    close(descriptor);
    if (size > CONFIG_FILE_BYTES_MAX) {
        free(text);
        config_error(error, error_bytes, "%s is larger than %u bytes; shorten it and retry", path,
                  CONFIG_FILE_BYTES_MAX);
        return NULL;
    }
    *length = size;
    return text;
}

/* ---- the zoo.cfg rewrite ---- */

static bool properties_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\f';
}

static bool line_end(char c)
{
    return c == '\n' || c == '\r';
}

/* The end of the physical line that starts at `position`, its terminator
 * (\n, \r or \r\n) included. */
static size_t physical_line_end(const char *text, size_t length, size_t position,
                                size_t *content_end)
{
    while (position < length && !line_end(text[position])) {
        position++;
    }
    *content_end = position;
    if (position < length && text[position] == '\r') {
        position++;
        if (position < length && text[position] == '\n') {
            position++;
        }
    } else if (position < length) {
        position++;
    }
    return position;
}

/* The key of a property line as java.util.Properties reads it: up to the
 * first unescaped '=', ':' or blank, escapes resolved (\uXXXX above ASCII
 * becomes '?': no dropped key has one), then trimmed as ZooKeeper does. */
static void property_key(const char *line, size_t length, char *key, size_t key_bytes)
{
    size_t written = 0;
    for (size_t index = 0; index < length && written + 1 < key_bytes; index++) {
        char c = line[index];
        if (c == '=' || c == ':' || properties_blank(c)) {
            break;
        }
        if (c == '\\' && index + 1 < length) {
            c = line[++index];
            if (c == 'u' && index + 4 < length) {
                unsigned code = 0;
                for (int digit = 1; digit <= 4; digit++) {
                    char h = line[index + (size_t)digit];
                    code = code << 4 | (unsigned)(h >= '0' && h <= '9'   ? h - '0'
                                                  : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                                  : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                                                         : 0);
                }
                index += 4;
                c = code < 0x80 ? (char)code : '?';
            } else {
                c = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == 'f' ? '\f' : c;
            }
        }
        key[written++] = c;
    }
    key[written] = '\0';
    size_t start = 0;
    while (start < written && java_blank(key[start])) {
        start++;
    }
    while (written > start && java_blank(key[written - 1])) {
        written--;
    }
    memmove(key, key + start, written - start);
    key[written - start] = '\0';
}

static bool has_prefix(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* editStaticConfig's filter. ZooKeeper matches clientPort with startsWith,
 * which also drops clientPortListenBacklog; Cheetah drops only the two keys
 * that name the client address. */
static bool key_is_dropped(const char *key, bool erase_client_address)
{
    if (has_prefix(key, "server.") || has_prefix(key, "group") || has_prefix(key, "weight") ||
        has_prefix(key, "dynamicConfigFile") || has_prefix(key, "peerType")) {
        return true;
    }
    return erase_client_address &&
           (strcmp(key, "clientPort") == 0 || strcmp(key, "clientPortAddress") == 0);
}

/* Appends `value` escaped for Properties.load ('\\', newlines). */
static size_t append_escaped(char *out, const char *value)
{
    size_t written = 0;
    for (const char *cursor = value; *cursor != '\0'; cursor++) {
        if (*cursor == '\\' || *cursor == '\n' || *cursor == '\r') {
            out[written++] = '\\';
            out[written++] = *cursor == '\n' ? 'n' : *cursor == '\r' ? 'r' : '\\';
        } else {
            out[written++] = *cursor;
        }
    }
    return written;
}

/* The new zoo.cfg. Unlike ZooKeeper, whose rewrite goes through a
 * Properties map (comments lost, keys in hash order), every kept line stays
 * as it was, in its place, comments and blank lines included: a deliberate
 * kindness to whoever edits zoo.cfg by hand. A dropped key's continuation
 * lines go with it. `*had_dynamic_line` says whether zoo.cfg already had a
 * dynamicConfigFile line (then it was rewritten before). */
static char *rewritten_static_config(const char *text, size_t length, const char *dynamic_path,
                                     bool erase_client_address, size_t *out_length,
                                     bool *had_dynamic_line)
{
    /* Escaping at most doubles the path. */
    size_t capacity = length + 2u * strlen(dynamic_path) + 64u;
    char *out = malloc(capacity);
    if (out == NULL) {
        return NULL;
    }
    *had_dynamic_line = false;
    size_t written = 0;
    size_t position = 0;
    while (position < length) {
        size_t start = position;
        size_t content = position;
        while (content < length && properties_blank(text[content])) {
            content++;
        }
        size_t content_end;
        size_t end = physical_line_end(text, length, position, &content_end);
        bool keep = true;
        bool comment_or_blank = content >= content_end || text[content] == '#' ||
                                text[content] == '!';
        if (!comment_or_blank) {
            char key[DYNAMIC_CONFIG_KEY_BYTES_MAX];
            property_key(text + content, content_end - content, key, sizeof key);
            if (has_prefix(key, "dynamicConfigFile")) {
                *had_dynamic_line = true;
            }
            keep = !key_is_dropped(key, erase_client_address);
            /* A line ending in an odd number of backslashes continues; the
             * continuation lines belong to this key. Each round consumes a
             * physical line, so the text's length bounds the loop. */
            for (;;) {
                size_t backslashes = 0;
                while (content_end - backslashes > content &&
                       text[content_end - 1 - backslashes] == '\\') {
                    backslashes++;
                }
                if (backslashes % 2u == 0u || end >= length) {
                    break;
                }
                content = end;
                end = physical_line_end(text, length, end, &content_end);
            }
        }
        if (keep) {
            memcpy(out + written, text + start, end - start);
            written += end - start;
        }
        position = end;
    }
    if (written > 0 && !line_end(out[written - 1])) {
        out[written++] = '\n';
    }
    static const char key[] = "dynamicConfigFile=";
    memcpy(out + written, key, sizeof key - 1);
    written += sizeof key - 1;
    written += append_escaped(out + written, dynamic_path);
    out[written++] = '\n';
    assert(written <= capacity);
    *out_length = written;
    return out;
}

/* backupOldConfig: zoo.cfg as the operator wrote it, byte for byte, kept
 * once (a later rewrite must not replace it with an already rewritten one). */
static int backup_static_config(const char *static_config_path, const char *text, size_t length,
                                mode_t mode, char *error, size_t error_bytes)
{
    char backup_path[DYNAMIC_CONFIG_PATH_BYTES_MAX];
    int printed = snprintf(backup_path, sizeof backup_path, "%s.bak", static_config_path);
    assert(printed > 0 && (size_t)printed < sizeof backup_path);
    struct stat status;
    if (stat(backup_path, &status) == 0) {
        return 0;
    }
    if (errno != ENOENT) {
        config_error(error, error_bytes, "cannot check %s: %s; fix its directory and retry",
                  backup_path, strerror(errno));
        return -1;
    }
    return write_file_atomically(backup_path, text, length, mode, error, error_bytes);
}

int dynamic_config_persist(const char *static_config_path, const char *config_text,
                           int64_t version, bool erase_client_address, char *error,
                           size_t error_bytes)
{
    assert(static_config_path != NULL && config_text != NULL);
    if (version < 0) {
        config_error(error, error_bytes,
                  "configuration version %" PRId64 " is negative; nothing was written", version);
        return -1;
    }
    if (strlen(static_config_path) >= CONFIG_PATH_BYTES_MAX) {
        config_error(error, error_bytes,
                  "config file path %s is longer than %u bytes; nothing was written: use a "
                  "shorter path",
                  static_config_path, CONFIG_PATH_BYTES_MAX - 1u);
        return -1;
    }
    char dynamic_path[DYNAMIC_CONFIG_PATH_BYTES_MAX];
    int printed = snprintf(dynamic_path, sizeof dynamic_path, "%s.dynamic.%" PRIx64,
                           static_config_path, (uint64_t)version);
    assert(printed > 0 && (size_t)printed < sizeof dynamic_path);

    size_t dynamic_length = 0;
    char *dynamic_text = dynamic_file_text(config_text, version, &dynamic_length, error,
                                           error_bytes);
    if (dynamic_text == NULL) {
        return -1;
    }
    int result = write_file_atomically(dynamic_path, dynamic_text, dynamic_length,
                                       DYNAMIC_CONFIG_FILE_MODE, error, error_bytes);
    free(dynamic_text);
    if (result != 0) {
        return -1;
    }
    /* ZooKeeper writes dynamicFile.getCanonicalPath(). */
    char absolute_path[PATH_MAX];
    if (realpath(dynamic_path, absolute_path) == NULL) {
        config_error(error, error_bytes,
                  "wrote %s but cannot resolve its absolute path: %s; zoo.cfg was not "
                  "changed: check the directory's permissions and retry",
                  dynamic_path, strerror(errno));
        return -1;
    }

    size_t static_length = 0;
    mode_t static_mode = 0;
    char *static_text = read_static_config(static_config_path, &static_length, &static_mode,
                                           error, error_bytes);
    if (static_text == NULL) {
        return -1;
    }
    size_t new_length = 0;
    bool had_dynamic_line = false;
    char *new_text = rewritten_static_config(static_text, static_length, absolute_path,
                                             erase_client_address, &new_length,
                                             &had_dynamic_line);
    if (new_text == NULL) {
        free(static_text);
        config_error(error, error_bytes, "out of memory rewriting %s", static_config_path);
        return -1;
    }
    result = 0;
    if (!had_dynamic_line) {
        result = backup_static_config(static_config_path, static_text, static_length,
                                      static_mode, error, error_bytes);
    }
    if (result == 0) {
        result = write_file_atomically(static_config_path, new_text, new_length, static_mode,
                                       error, error_bytes);
    }
    free(new_text);
    free(static_text);
    return result;
}
