/*
 * A bearer token that may rotate. Bound service-account tokens expire hourly
 * and the kubelet replaces the file (an atomic symlink swap); a token read once
 * at start-up stops working. The source stats the file before each request and
 * re-reads it when its identity (device, inode, size, mtime) changed.
 * Thread-safe: one source is shared by all the client's threads.
 */
#ifndef QSO_K8S_TOKEN_H
#define QSO_K8S_TOKEN_H

#include "k8s_error.h"

struct k8s_token_source;

/* Either a fixed token or a file (exactly one non-NULL). Copies its inputs. */
int k8s_token_source_new(const char *token, const char *file, struct k8s_token_source **out,
                         struct k8s_error *err);
void k8s_token_source_free(struct k8s_token_source *ts);

/* The current token as a new string the caller frees; re-reads a changed file.
 * If the file cannot be read but a token was read before (a swap in progress),
 * the last good token is returned; with none ever read it fails with K8S_EIO
 * naming the file. Trailing whitespace/newlines are stripped. */
int k8s_token_source_get(struct k8s_token_source *ts, char **out, struct k8s_error *err);

#endif
