/*
 * JSON literals for tests: test_json("{\"spec\":{\"replicas\":%d}}", n)
 * formats, parses and fails the running cmocka test (with the text) when the
 * result is not JSON. Caller frees with cJSON_Delete.
 */
#ifndef QSO_TEST_JSON_H
#define QSO_TEST_JSON_H

#include <cjson/cJSON.h>

cJSON *test_json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
