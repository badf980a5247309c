/*
 * JSON log lines for the storage library. cJSON escapes, so a key name with a
 * quote or a newline can never break the line format.
 */
#include "stor_log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

static enum stor_log_level threshold(void)
{
    const char *v = getenv("QSO_LOG_LEVEL");
    if (!v)
        return STOR_LOG_INFO;
    if (strcasecmp(v, "debug") == 0)
        return STOR_LOG_DEBUG;
    if (strcasecmp(v, "warn") == 0)
        return STOR_LOG_WARN;
    if (strcasecmp(v, "error") == 0)
        return STOR_LOG_ERROR;
    return STOR_LOG_INFO;
}

void stor_log(enum stor_log_level level, const char *msg, const char *const *kv)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (level < threshold())
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);

    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    cJSON_AddStringToObject(o, "time", when);
    cJSON_AddStringToObject(o, "level", names[level]);
    cJSON_AddStringToObject(o, "msg", msg ? msg : "");
    for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2)
        cJSON_AddStringToObject(o, kv[i], kv[i + 1]);
    char *line = cJSON_PrintUnformatted(o);
    if (line) {
        fprintf(stderr, "%s\n", line);
        free(line);
    }
    cJSON_Delete(o);
}
