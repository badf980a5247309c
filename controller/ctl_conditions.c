/*
 * metav1.Condition helpers (see ctl_conditions.h). The conditions live in the
 * caller's cJSON tree; these functions only edit that tree, never the API.
 */
#include "ctl_conditions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_clock.h"

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* A DNS-1123 subdomain: labels of [a-z0-9]([-a-z0-9]*[a-z0-9])? joined by dots. */
static int valid_dns_subdomain(const char *s, size_t len)
{
    if (len == 0 || len > 253)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int first = i == 0 || s[i - 1] == '.';
        int last = i + 1 == len || s[i + 1] == '.';
        if (c == '.') {
            if (first || last)
                return 0;
            continue;
        }
        if (!is_lower_alnum(c) && !(c == '-' && !first && !last))
            return 0;
    }
    return 1;
}

/* A qualified name: an optional DNS subdomain prefix and '/', then a name of
 * at most 63 characters: ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]. */
int ctl_condition_type_valid(const char *type)
{
    const char *slash, *name;
    size_t n;
    if (!type || strlen(type) > CTL_COND_MAX_TYPE)
        return 0;
    slash = strchr(type, '/');
    name = slash ? slash + 1 : type;
    if (slash && (strchr(name, '/') || !valid_dns_subdomain(type, (size_t)(slash - type))))
        return 0;
    n = strlen(name);
    if (n == 0 || n > 63 || !is_alnum(name[0]) || !is_alnum(name[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(name[i]) && name[i] != '-' && name[i] != '_' && name[i] != '.')
            return 0;
    return 1;
}

int ctl_condition_reason_valid(const char *reason)
{
    size_t n;
    if (!reason)
        return 0;
    n = strlen(reason);
    /* CamelCase: our convention on top of the API's pattern. */
    if (n == 0 || n > CTL_COND_MAX_REASON || !(reason[0] >= 'A' && reason[0] <= 'Z'))
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = reason[i];
        if (!is_alnum(c) && c != '_' && c != ',' && c != ':')
            return 0;
    }
    return reason[n - 1] != ',' && reason[n - 1] != ':';
}

int ctl_condition_status_valid(const char *status)
{
    return status && (strcmp(status, CTL_COND_TRUE) == 0 || strcmp(status, CTL_COND_FALSE) == 0 ||
                      strcmp(status, CTL_COND_UNKNOWN) == 0);
}

static const char *str_member(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const cJSON *ctl_condition_find(const cJSON *status, const char *type)
{
    const cJSON *conds = cJSON_GetObjectItemCaseSensitive(status, "conditions");
    const cJSON *c;
    if (!type)
        return NULL;
    cJSON_ArrayForEach(c, conds)
    {
        const char *t = str_member(c, "type");
        if (t && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

const char *ctl_condition_status(const cJSON *status, const char *type)
{
    return str_member(ctl_condition_find(status, type), "status");
}

int ctl_condition_is_true(const cJSON *status, const char *type)
{
    const char *s = ctl_condition_status(status, type);
    return s && strcmp(s, CTL_COND_TRUE) == 0;
}

int ctl_condition_is_false(const cJSON *status, const char *type)
{
    const char *s = ctl_condition_status(status, type);
    return s && strcmp(s, CTL_COND_FALSE) == 0;
}

int ctl_condition_is_current(const cJSON *status, const char *type, int64_t generation)
{
    const cJSON *g =
        cJSON_GetObjectItemCaseSensitive(ctl_condition_find(status, type), "observedGeneration");
    return cJSON_IsNumber(g) && (int64_t)g->valuedouble == generation;
}

int ctl_condition_remove(cJSON *status, const char *type)
{
    cJSON *conds = cJSON_GetObjectItemCaseSensitive(status, "conditions");
    int i = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, conds)
    {
        const char *t = str_member(c, "type");
        if (t && type && strcmp(t, type) == 0) {
            cJSON_DeleteItemFromArray(conds, i);
            return 1;
        }
        i++;
    }
    return 0;
}

/* Replaces member `key` of `o` with a string when it differs; 1 if changed. */
static int put_string(cJSON *o, const char *key, const char *v, int *rc)
{
    const char *cur = str_member(o, key);
    cJSON *item;
    if (cur && strcmp(cur, v) == 0)
        return 0;
    item = cJSON_CreateString(v);
    if (!item) {
        *rc = K8S_ENOMEM;
        return 0;
    }
    if (cJSON_GetObjectItemCaseSensitive(o, key))
        cJSON_ReplaceItemInObjectCaseSensitive(o, key, item);
    else
        cJSON_AddItemToObject(o, key, item);
    return 1;
}

static int put_number(cJSON *o, const char *key, int64_t v, int *rc)
{
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(o, key);
    cJSON *item;
    if (cJSON_IsNumber(cur) && (int64_t)cur->valuedouble == v)
        return 0;
    item = cJSON_CreateNumber((double)v);
    if (!item) {
        *rc = K8S_ENOMEM;
        return 0;
    }
    if (cur)
        cJSON_ReplaceItemInObjectCaseSensitive(o, key, item);
    else
        cJSON_AddItemToObject(o, key, item);
    return 1;
}

int ctl_condition_set(cJSON *status, const struct ctl_condition *c, int64_t now_wall_ms,
                      int *changed, struct k8s_error *err)
{
    cJSON *conds, *cond;
    char when[40];
    int rc = 0, ch = 0;
    const char *message;

    if (changed)
        *changed = 0;
    if (!cJSON_IsObject(status) || !c)
        return k8s_error_set(err, K8S_EARG, "conditions: status must be an object");
    message = c->message ? c->message : "";
    if (!ctl_condition_type_valid(c->type))
        return k8s_error_set(err, K8S_EINVALID,
                             "conditions: type \"%s\" is not a qualified name (e.g. Ready)",
                             c->type ? c->type : "");
    if (!ctl_condition_status_valid(c->status))
        return k8s_error_set(err, K8S_EINVALID,
                             "conditions: %s status must be True, False or Unknown", c->type);
    if (!ctl_condition_reason_valid(c->reason))
        return k8s_error_set(err, K8S_EINVALID,
                             "conditions: %s reason \"%.64s\" must be CamelCase "
                             "(a capital letter, then letters, digits, '_', ',' or ':')",
                             c->type, c->reason ? c->reason : "");
    if (strlen(message) > CTL_COND_MAX_MESSAGE)
        return k8s_error_set(err, K8S_EINVALID, "conditions: %s message is longer than %d bytes",
                             c->type, CTL_COND_MAX_MESSAGE);
    if (c->observed_generation < 0)
        return k8s_error_set(err, K8S_EINVALID,
                             "conditions: %s observedGeneration must not be negative", c->type);

    conds = cJSON_GetObjectItemCaseSensitive(status, "conditions");
    if (conds && !cJSON_IsArray(conds))
        return k8s_error_set(err, K8S_EINVALID, "conditions: status.conditions is not a list");
    if (!conds) {
        conds = cJSON_AddArrayToObject(status, "conditions");
        if (!conds)
            return k8s_error_set(err, K8S_ENOMEM, "conditions: out of memory");
    }
    ctl_clock_format_rfc3339(now_wall_ms, when, sizeof(when));
    cond = (cJSON *)ctl_condition_find(status, c->type);
    if (!cond) {
        cond = cJSON_CreateObject();
        if (!cond)
            return k8s_error_set(err, K8S_ENOMEM, "conditions: out of memory");
        cJSON_AddItemToArray(conds, cond);
        put_string(cond, "type", c->type, &rc);
        put_string(cond, "status", c->status, &rc);
        put_number(cond, "observedGeneration", c->observed_generation, &rc);
        put_string(cond, "lastTransitionTime", when, &rc);
        put_string(cond, "reason", c->reason, &rc);
        put_string(cond, "message", message, &rc);
        ch = 1;
    } else {
        if (put_string(cond, "status", c->status, &rc)) {
            put_string(cond, "lastTransitionTime", when, &rc);
            ch = 1;
        } else if (!str_member(cond, "lastTransitionTime")) {
            /* A condition written by someone else without the required time. */
            ch |= put_string(cond, "lastTransitionTime", when, &rc);
        }
        ch |= put_number(cond, "observedGeneration", c->observed_generation, &rc);
        ch |= put_string(cond, "reason", c->reason, &rc);
        ch |= put_string(cond, "message", message, &rc);
    }
    if (rc)
        return k8s_error_set(err, rc, "conditions: out of memory");
    if (changed)
        *changed = ch;
    return 0;
}

int ctl_conditions_summarize(cJSON *status, const char *summary_type,
                             const struct ctl_condition_dep *deps, size_t ndeps,
                             const char *ready_reason, const char *ready_message,
                             int64_t observed_generation, int64_t now_wall_ms, int *changed,
                             struct k8s_error *err)
{
    const struct ctl_condition_dep *unknown = NULL, *bad = NULL;
    struct ctl_condition sum = {summary_type, CTL_COND_TRUE, ready_reason, ready_message,
                                observed_generation};
    char msg[2048];
    int rc;

    for (size_t i = 0; i < ndeps && !bad; i++) {
        const char *s = ctl_condition_status(status, deps[i].type);
        if (!s) {
            if (!deps[i].optional && !unknown)
                unknown = &deps[i];
            continue;
        }
        if (strcmp(s, CTL_COND_UNKNOWN) == 0) {
            if (!unknown)
                unknown = &deps[i];
            continue;
        }
        if ((strcmp(s, CTL_COND_TRUE) == 0) == (deps[i].negative_polarity != 0))
            bad = &deps[i];
    }
    if (bad) {
        const cJSON *c = ctl_condition_find(status, bad->type);
        const char *m = str_member(c, "message");
        sum.status = CTL_COND_FALSE;
        sum.reason = str_member(c, "reason");
        if (m && *m)
            snprintf(msg, sizeof(msg), "%s: %s", bad->type, m);
        else
            snprintf(msg, sizeof(msg), "%s is %s", bad->type,
                     ctl_condition_status(status, bad->type));
        sum.message = msg;
    } else if (unknown) {
        const cJSON *c = ctl_condition_find(status, unknown->type);
        sum.status = CTL_COND_UNKNOWN;
        if (c) {
            const char *m = str_member(c, "message");
            sum.reason = str_member(c, "reason");
            snprintf(msg, sizeof(msg), "%s: %s", unknown->type, m && *m ? m : "status Unknown");
        } else {
            sum.reason = "Pending";
            snprintf(msg, sizeof(msg), "waiting for %s", unknown->type);
        }
        sum.message = msg;
    }
    /* A dependency set by someone else with a reason we would refuse must not
     * make the summary unsettable. */
    if (!ctl_condition_reason_valid(sum.reason))
        sum.reason = sum.status[0] == 'F' ? "NotReady" : "Pending";
    rc = ctl_condition_set(status, &sum, now_wall_ms, changed, err);
    return rc;
}
