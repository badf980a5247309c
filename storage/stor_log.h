/*
 * Structured logs of the copy engine: one JSON object per line on stderr
 * (time, level, msg, then string fields). The storage library links only
 * curl/OpenSSL/cJSON, so it keeps this small logger of its own with the same
 * line format as k8sclient's k8s_log. Callers never pass a secret; URLs go
 * through stor_redact_url() first.
 */
#ifndef QSO_STOR_LOG_H
#define QSO_STOR_LOG_H

enum stor_log_level { STOR_LOG_DEBUG, STOR_LOG_INFO, STOR_LOG_WARN, STOR_LOG_ERROR };

/* `kv` is NULL or a NULL-terminated list of key, value string pairs.
 * Messages below $QSO_LOG_LEVEL (debug|info|warn|error; default info) are dropped. */
void stor_log(enum stor_log_level level, const char *msg, const char *const *kv);

#endif
