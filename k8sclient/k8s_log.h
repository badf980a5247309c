/*
 * Structured logs: one JSON object per line on stderr with time (RFC 3339 UTC,
 * milliseconds), level, msg, and optional namespace/name and extra fields.
 * Never log a secret: callers pass URLs through k8s_log_redact_url first.
 */
#ifndef QSO_K8S_LOG_H
#define QSO_K8S_LOG_H

#include <stddef.h>

enum k8s_log_level { K8S_LOG_DEBUG, K8S_LOG_INFO, K8S_LOG_WARN, K8S_LOG_ERROR };

/* Messages below the level named by $QSO_LOG_LEVEL (debug|info|warn|error;
 * default info) are dropped. Read at each call: no process-global state. */

/* `kv` is NULL or a NULL-terminated list of key, value string pairs. */
void k8s_log(enum k8s_log_level level, const char *ns, const char *name, const char *msg,
             const char *const *kv);

/* Copies `url` into buf without its query string and userinfo. */
void k8s_log_redact_url(const char *url, char *buf, size_t cap);

#endif
