#include "dataplane/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* One line is assembled in a buffer and written with one call, so lines
 * from different threads never interleave. */
#define LOG_LINE_BYTES_MAX 2048

static _Atomic int log_threshold = LOG_LEVEL_INFO;

void log_set_level(enum log_level level)
{
    atomic_store(&log_threshold, (int)level);
}

void log_message(enum log_level level, const char *format, ...)
{
    if ((int)level < atomic_load(&log_threshold)) {
        return;
    }
    static const char *const level_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    char line[LOG_LINE_BYTES_MAX];
    struct timeval now;
    gettimeofday(&now, NULL);
    struct tm local;
    localtime_r(&now.tv_sec, &local);
    size_t used = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &local);
    int written = snprintf(line + used, sizeof(line) - used, ",%03d [cheetah] - %s - ",
                           (int)(now.tv_usec / 1000), level_names[level]);
    if (written > 0) {
        used += (size_t)written;
    }
    va_list arguments;
    va_start(arguments, format);
    written = vsnprintf(line + used, sizeof(line) - used, format, arguments);
    va_end(arguments);
    if (written > 0) {
        used += (size_t)written;
    }
    if (used >= sizeof(line) - 1) {
        used = sizeof(line) - 2;
    }
    line[used++] = '\n';
    fwrite(line, 1, used, stderr);
}
