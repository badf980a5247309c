/*
 * Structured JSON log lines. cJSON does the escaping, so a message or a field
 * value can never break the line format.
 */
#include "k8s_log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static enum k8s_log_level threshold(void)
{
    const char *v = getenv("QSO_LOG_LEVEL");
    if (!v)
        return K8S_LOG_INFO;
    if (strcasecmp(v, "debug") == 0)
        return K8S_LOG_DEBUG;
    if (strcasecmp(v, "warn") == 0)
        return K8S_LOG_WARN;
    if (strcasecmp(v, "error") == 0)
        return K8S_LOG_ERROR;
    return K8S_LOG_INFO;
}

void k8s_log(enum k8s_log_level level, const char *ns, const char *name, const char *msg,
             const char *const *kv)
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
    if (ns)
        cJSON_AddStringToObject(o, "namespace", ns);
    if (name)
        cJSON_AddStringToObject(o, "name", name);
    for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2)
        cJSON_AddStringToObject(o, kv[i], kv[i + 1]);
    char *line = cJSON_PrintUnformatted(o);
    if (line) {
        fprintf(stderr, "%s\n", line);
        free(line);
    }
    cJSON_Delete(o);
}

void k8s_log_redact_url(const char *url, char *buf, size_t cap)
{
    if (!cap)
        return;
    const char *scheme_end = strstr(url, "://");
    const char *host = scheme_end ? scheme_end + 3 : url;
    size_t host_len = strcspn(host, "/?#");
    const char *at = memchr(host, '@', host_len);
    const char *rest = host + host_len;
    size_t path_len = strcspn(rest, "?#");
    int scheme_len = scheme_end ? (int)(scheme_end + 3 - url) : 0;
    const char *h = at ? at + 1 : host;
    int hl = (int)(host + host_len - h);
    snprintf(buf, cap, "%.*s%.*s%.*s", scheme_len, url, hl, h, (int)path_len, rest);
}
