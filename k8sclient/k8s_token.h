/*
 * A bearer token that may rotate. Bound service-account tokens expire hourly
 * and the kubelet replaces the file (an atomic symlink swap); a token read once
 * at start-up stops working. The source stats the file before each request and
 * re-reads it when its identity (device, inode, size, mtime) changed.
 * Thread-safe: one source is shared by all the client's threads.
 *
 * Identity is compared with stat(), which follows symlinks, so the kubelet's
 * `token -> ..data/token` layout is seen through to the file actually behind
 * it. Tokens are at most K8S_TOKEN_MAX bytes and may not contain control
 * characters (a CR or LF would split the Authorization header).
 */
#ifndef QSO_K8S_TOKEN_H
#define QSO_K8S_TOKEN_H

#include "k8s_error.h"

#define K8S_TOKEN_MAX (64 * 1024)

struct k8s_token_source;

/* Either a fixed token or a file (exactly one non-NULL; K8S_EARG otherwise, or
 * for a fixed token that is empty or has control characters). Copies its
 * inputs. The file is not read until the first k8s_token_source_get. */
int k8s_token_source_new(const char *token, const char *file, struct k8s_token_source **out,
                         struct k8s_error *err);
void k8s_token_source_free(struct k8s_token_source *ts);

/* The current token as a new string the caller frees; re-reads a changed file.
 * If the file cannot be read but a token was read before (a swap in progress),
 * the last good token is returned (and a warning logged once per failure
 * episode); with none ever read it fails with K8S_EIO naming the file (or
 * K8S_ECONFIG for a file that is empty, too large or has control characters).
 * Leading and trailing whitespace/newlines are stripped. */
int k8s_token_source_get(struct k8s_token_source *ts, char **out, struct k8s_error *err);

#endif
