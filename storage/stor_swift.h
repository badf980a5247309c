/*
 * The OpenStack Swift backend (scheme "swift"): tempauth v1 with re-auth on
 * 401, JSON listings paged by marker, DLO manifests resolved by HEAD, static
 * large objects for big uploads, server-side copies within one account, and
 * the limits the proxy publishes at /info. See stor_swift.c for the options
 * and secrets it reads.
 */
#ifndef QSO_STOR_SWIFT_H
#define QSO_STOR_SWIFT_H

#include "stor_backend.h"

extern const struct stor_backend_ops stor_swift_ops;

#endif
