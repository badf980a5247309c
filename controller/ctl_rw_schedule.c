/* ReadOnlyWindow timing rules (see ctl_rw_schedule.h). */
#include "ctl_rw_schedule.h"

#include <string.h>

#include "ctl_clock.h"

/* CRD bounds, re-checked here for servers without the schema's checks. */
#define MIN_DURATION_S 60
#define MAX_DURATION_S 31536000
#define MIN_TIMEOUT_S  30
#define MAX_TIMEOUT_S  86400

static int read_time(const cJSON *spec, const char *field, int64_t *out, int *present,
                     struct k8s_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, field);
    *present = 0;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v) || ctl_clock_parse_rfc3339(v->valuestring, out) != 0)
        return k8s_error_set(err, K8S_EINVALID,
                             "spec.%s must be an RFC 3339 time such as 2026-01-31T22:00:00Z",
                             field);
    *present = 1;
    return 0;
}

static int read_seconds(const cJSON *spec, const char *field, long long min, long long max,
                        long long *out, int *present, struct k8s_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, field);
    *present = 0;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long long)v->valuedouble ||
        v->valuedouble < (double)min || v->valuedouble > (double)max)
        return k8s_error_set(err, K8S_EINVALID,
                             "spec.%s must be a whole number of seconds between %lld and %lld",
                             field, min, max);
    *out = (long long)v->valuedouble;
    *present = 1;
    return 0;
}

int ctl_rw_times_from_spec(const cJSON *spec, int64_t created_ms, struct ctl_rw_times *out,
                           struct k8s_error *err)
{
    int has_start, has_end, has_dur, has_timeout, rc;
    int64_t start = 0, end = 0;
    long long dur = 0, timeout = CTL_RW_DEFAULT_ACTIVATION_TIMEOUT_S;

    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(spec))
        return k8s_error_set(err, K8S_EINVALID, "spec is missing");
    if ((rc = read_time(spec, "startTime", &start, &has_start, err)) != 0 ||
        (rc = read_time(spec, "endTime", &end, &has_end, err)) != 0 ||
        (rc = read_seconds(spec, "durationSeconds", MIN_DURATION_S, MAX_DURATION_S, &dur, &has_dur,
                           err)) != 0 ||
        (rc = read_seconds(spec, "activationTimeoutSeconds", MIN_TIMEOUT_S, MAX_TIMEOUT_S, &timeout,
                           &has_timeout, err)) != 0)
        return rc;
    if (has_end && has_dur)
        return k8s_error_set(err, K8S_EINVALID,
                             "spec.endTime and spec.durationSeconds are mutually exclusive: "
                             "keep one of them");
    if (!has_start) {
        if (created_ms <= 0)
            return k8s_error_set(err, K8S_EINVALID,
                                 "spec.startTime is omitted and the object has no "
                                 "creationTimestamp to start from");
        start = created_ms;
    }
    if (has_end && end <= start)
        return k8s_error_set(err, K8S_EINVALID,
                             "spec.endTime must be after spec.startTime (or after the "
                             "creation time when spec.startTime is omitted)");
    out->start_ms = start;
    out->end_ms = has_end ? end : 0;
    out->duration_ms = has_dur ? (int64_t)dur * 1000 : 0;
    out->activation_timeout_ms = (int64_t)timeout * 1000;
    return 0;
}

int64_t ctl_rw_end(const struct ctl_rw_times *t, int64_t activated_ms)
{
    if (t->end_ms)
        return t->end_ms;
    if (t->duration_ms)
        return (activated_ms ? activated_ms : t->start_ms) + t->duration_ms;
    return 0;
}

enum ctl_rw_due ctl_rw_due(const struct ctl_rw_times *t, int64_t now_ms, int64_t activated_ms,
                           int64_t *next_ms)
{
    int64_t end = ctl_rw_end(t, activated_ms);
    *next_ms = 0;
    if (activated_ms) {
        if (end && now_ms >= end)
            return CTL_RW_OVER;
        *next_ms = end;
        return CTL_RW_ON;
    }
    if (end && now_ms >= end)
        return CTL_RW_MISSED;
    if (now_ms < t->start_ms) {
        *next_ms = t->start_ms;
        return CTL_RW_WAIT;
    }
    *next_ms = end;
    return CTL_RW_ON;
}

int ctl_rw_activation_timed_out(const struct ctl_rw_times *t, int64_t activating_since_ms,
                                int64_t now_ms, int64_t *deadline_ms)
{
    *deadline_ms = activating_since_ms + t->activation_timeout_ms;
    return now_ms >= *deadline_ms;
}
