/*
 * The Event recorder: core/v1 Events as `kubectl describe` shows them (Type,
 * Reason, Age from first/lastTimestamp, From = source.component, Message),
 * with client-go's correlation:
 *
 * - spam filter first: a token bucket per involved object (and source),
 *   burst 25, refilled one token every 5 minutes; an event without a token is
 *   dropped (counted in the stats);
 * - then de-duplication: a repeat of the same (object, type, reason,
 *   message) within 10 minutes of the previous occurrence PATCHes the
 *   existing Event's count and lastTimestamp instead of creating a new one
 *   (if that Event is gone, it is created again with the running count).
 *
 * Writes are synchronous on the caller's thread (a reconciler's), short and
 * never retried beyond the client's own retries: an Event that cannot be
 * written is logged and dropped — it never fails a reconcile.
 *
 * Secrets: messages must not contain one, and as a second line of defence
 * every message is scrubbed (URL query strings and userinfo removed; values
 * after key words such as password=, token:, secret=, Bearer replaced with
 * [redacted]) and cut to 1024 bytes.
 *
 * Time comes from the injectable clock. A gate callback (the manager's "am I
 * still the leader") can stop all writes at once.
 */
#ifndef QSO_CTL_EVENTS_H
#define QSO_CTL_EVENTS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl_clock.h"
#include "k8s_client.h"

#define CTL_EVENT_NORMAL  "Normal"
#define CTL_EVENT_WARNING "Warning"

#define CTL_EVENT_MAX_MESSAGE 1024

struct ctl_recorder_options {
    const char *component;   /* source.component / reportingComponent (required) */
    const char *instance;    /* source.host / reportingInstance; may be NULL */
    int64_t dedup_window_ms; /* 0: 600000 (10 min) */
    int spam_burst;          /* 0: 25 */
    int64_t spam_refill_ms;  /* 0: 300000 (one token per 5 min) */
    size_t max_cached;       /* distinct events and objects remembered; 0: 4096 */
};

struct ctl_recorder_stats {
    unsigned long created, patched, dropped_spam, dropped_gate, failed;
};

struct ctl_recorder;

/* The client and clock are borrowed and must outlive the recorder. */
int ctl_recorder_new(struct k8s_client *client, struct ctl_clock *clock,
                     const struct ctl_recorder_options *opts, struct ctl_recorder **out,
                     struct k8s_error *err);
void ctl_recorder_free(struct ctl_recorder *r);

/* While `may_write(user)` returns 0, events are dropped without a request. */
void ctl_recorder_set_gate(struct ctl_recorder *r, int (*may_write)(void *user), void *user);

/*
 * Records an event about `obj` (any object with apiVersion, kind and
 * metadata.name; namespace, uid and resourceVersion when it has them). `type`
 * is CTL_EVENT_NORMAL or CTL_EVENT_WARNING; `reason` CamelCase. Returns 0
 * when written or deliberately dropped (spam filter, gate), K8S_EARG for bad
 * input, or the API error of a failed write (already logged). Thread-safe.
 */
int ctl_event(struct ctl_recorder *r, const cJSON *obj, const char *type, const char *reason,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));

void ctl_recorder_get_stats(struct ctl_recorder *r, struct ctl_recorder_stats *out);

/* The scrubbing applied to every message (exposed for tests). */
void ctl_event_scrub(const char *in, char *out, size_t cap);

#endif
