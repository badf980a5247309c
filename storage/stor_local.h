/*
 * The local-directory backend (scheme "file"): see stor_local.c.
 */
#ifndef QSO_STOR_LOCAL_H
#define QSO_STOR_LOCAL_H

#include "stor_backend.h"

extern const struct stor_backend_ops stor_local_ops;

#endif
