/*
 * k8s_buf: growable buffer with a hard maximum. Capacity doubles (amortised
 * linear appends) and is clamped to `max` + 1 for the terminating NUL.
 */
#include "k8s_buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_error.h"

void k8s_buf_init(struct k8s_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

static int buf_reserve(struct k8s_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return K8S_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = realloc(b->data, cap);
    if (!p)
        return K8S_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int k8s_buf_append(struct k8s_buf *b, const void *data, size_t len)
{
    int rc = buf_reserve(b, len);
    if (rc)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int k8s_buf_appendf(struct k8s_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return K8S_EARG;
    int rc = buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void k8s_buf_consume(struct k8s_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data)
        b->data[b->len] = '\0';
}

void k8s_buf_reset(struct k8s_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *k8s_buf_take(struct k8s_buf *b, size_t *len)
{
    char *p = b->data;
    if (!p)
        p = calloc(1, 1);
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

void k8s_buf_free(struct k8s_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int k8s_buf_append_go_quoted(struct k8s_buf *b, const char *s)
{
    int rc = k8s_buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
        switch (*p) {
        case '"':
            rc = k8s_buf_append(b, "\\\"", 2);
            break;
        case '\\':
            rc = k8s_buf_append(b, "\\\\", 2);
            break;
        case '\n':
            rc = k8s_buf_append(b, "\\n", 2);
            break;
        case '\t':
            rc = k8s_buf_append(b, "\\t", 2);
            break;
        case '\r':
            rc = k8s_buf_append(b, "\\r", 2);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                rc = k8s_buf_appendf(b, "\\x%02x", *p);
            else
                rc = k8s_buf_append(b, p, 1);
        }
    }
    return rc ? rc : k8s_buf_append(b, "\"", 1);
}
