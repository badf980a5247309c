/*
 * A growable byte buffer with a hard maximum size (STYLE.md: buffers grow with
 * a maximum). Always NUL-terminated after its `len` bytes so it can be used as
 * a C string. Modelled on curl's dynbuf.
 */
#ifndef QSO_K8S_BUF_H
#define QSO_K8S_BUF_H

#include <stddef.h>

struct k8s_buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
    size_t max; /* appends that would exceed this fail with K8S_ENOMEM */
};

void k8s_buf_init(struct k8s_buf *b, size_t max);
/* 0, or K8S_ENOMEM when `max` would be exceeded or allocation failed. */
int k8s_buf_append(struct k8s_buf *b, const void *data, size_t len);
int k8s_buf_appendf(struct k8s_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first `n` bytes (memmove); keeps capacity. */
/* Appends Go's %q of `s` (strconv.Quote: printable bytes as they are, the
 * usual escapes, other control bytes as \xNN) — how apimachinery quotes
 * values in messages and the kubelet in downward-API files. */
int k8s_buf_append_go_quoted(struct k8s_buf *b, const char *s);
void k8s_buf_consume(struct k8s_buf *b, size_t n);
void k8s_buf_reset(struct k8s_buf *b);
/* Hands the data to the caller (who frees it) and resets the buffer. */
char *k8s_buf_take(struct k8s_buf *b, size_t *len);
void k8s_buf_free(struct k8s_buf *b);

#endif
