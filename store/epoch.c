/* acceptedEpoch / currentEpoch files: see store/epoch.h for the format. */
#include "store/epoch.h"
#include "store/store_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Room for "<dir>/<name>.tmp". */
#define EPOCH_PATH_BYTES_MAX 4096u

static bool epoch_path(char *out, size_t out_bytes, const char *dir, const char *name,
                       const char *suffix)
{
    int written = snprintf(out, out_bytes, "%s/%s%s", dir, name, suffix);
    return written > 0 && (size_t)written < out_bytes;
}

/* The content shown in an error: printable ASCII kept, the rest escaped. */
static void quote_content(const char *content, size_t len, char *out, size_t out_bytes)
{
    size_t used = 0;
    for (size_t i = 0; i < len && used + 5 < out_bytes; i++) {
        unsigned char c = (unsigned char)content[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out[used++] = (char)c;
        } else {
            used += (size_t)snprintf(out + used, out_bytes - used, "\\x%02x", c);
        }
    }
    out[used < out_bytes ? used : out_bytes - 1] = '\0';
}

int store_epoch_read(const char *data_dir, const char *name, int64_t *value, char *error,
                     size_t error_bytes)
{
    char path[EPOCH_PATH_BYTES_MAX];
    if (!epoch_path(path, sizeof path, data_dir, name, "")) {
        snprintf(error, error_bytes, "%s/%s: path too long", data_dir, name);
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            return 0;
        }
        snprintf(error, error_bytes, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char content[STORE_EPOCH_FILE_BYTES_MAX + 1];
    size_t size = 0;
    while (size < sizeof content) {
        ssize_t got = read(fd, content + size, sizeof content - size);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            int saved = errno;
            close(fd);
            snprintf(error, error_bytes, "%s: cannot read: %s", path, strerror(saved));
            return -1;
        }
        if (got == 0) {
            break;
        }
        size += (size_t)got;
    }
    close(fd);
    size_t line_len = 0;
    while (line_len < size && content[line_len] != '\n' && content[line_len] != '\r') {
        line_len++;
    }
    if (size <= STORE_EPOCH_FILE_BYTES_MAX && store_parse_java_long(content, line_len, 10, value)) {
        return 1;
    }
    char shown[STORE_EPOCH_FILE_BYTES_MAX * 4 + 8];
    quote_content(content, size > STORE_EPOCH_FILE_BYTES_MAX ? STORE_EPOCH_FILE_BYTES_MAX : size,
                  shown, sizeof shown);
    snprintf(error, error_bytes,
             "%s: does not hold an epoch number: found \"%s\"%s; fix or remove the file "
             "(ZooKeeper writes the epoch as decimal digits)",
             path, shown, size > STORE_EPOCH_FILE_BYTES_MAX ? "..." : "");
    return -1;
}

static int write_all(int fd, const char *bytes, size_t len)
{
    while (len > 0) {
        ssize_t wrote = write(fd, bytes, len);
        if (wrote < 0 && errno == EINTR) {
            continue;
        }
        if (wrote <= 0) {
            return -1;
        }
        bytes += wrote;
        len -= (size_t)wrote;
    }
    return 0;
}

int store_epoch_write(const char *data_dir, const char *name, int64_t value, char *error,
                      size_t error_bytes)
{
    char path[EPOCH_PATH_BYTES_MAX];
    char tmp_path[EPOCH_PATH_BYTES_MAX];
    if (!epoch_path(path, sizeof path, data_dir, name, "") ||
        !epoch_path(tmp_path, sizeof tmp_path, data_dir, name, ".tmp")) {
        snprintf(error, error_bytes, "%s/%s: path too long", data_dir, name);
        return -1;
    }
    char text[24];
    int len = snprintf(text, sizeof text, "%" PRId64, value);
    assert(len > 0 && (size_t)len < sizeof text);
    int fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(error, error_bytes, "%s: cannot create: %s", tmp_path, strerror(errno));
        return -1;
    }
    if (write_all(fd, text, (size_t)len) != 0 || fsync(fd) != 0) {
        int saved = errno;
        close(fd);
        unlink(tmp_path); /* AtomicFileOutputStream.abort */
        snprintf(error, error_bytes, "%s: cannot write: %s", tmp_path, strerror(saved));
        return -1;
    }
    if (close(fd) != 0) {
        int saved = errno;
        unlink(tmp_path);
        snprintf(error, error_bytes, "%s: cannot close: %s", tmp_path, strerror(saved));
        return -1;
    }
    if (rename(tmp_path, path) != 0) {
        int saved = errno;
        unlink(tmp_path);
        snprintf(error, error_bytes, "cannot rename %s to %s: %s", tmp_path, path,
                 strerror(saved));
        return -1;
    }
    int dir_fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0 || fsync(dir_fd) != 0) {
        int saved = errno;
        if (dir_fd >= 0) {
            close(dir_fd);
        }
        snprintf(error, error_bytes, "%s: cannot fsync the directory after writing %s: %s",
                 data_dir, name, strerror(saved));
        return -1;
    }
    close(dir_fd);
    return 0;
}
