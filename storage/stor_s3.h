/*
 * The S3 backend (scheme "s3"): SigV4, path-style or virtual-hosted, custom
 * CA, ListObjectsV2, multipart uploads and server-side copies. See stor_s3.c
 * for the options it reads.
 */
#ifndef QSO_STOR_S3_H
#define QSO_STOR_S3_H

#include "stor_backend.h"

extern const struct stor_backend_ops stor_s3_ops;

#endif
