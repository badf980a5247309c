/* JSON literals for tests (see test_json.h). */
#include "test_json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

cJSON *test_json(const char *fmt, ...)
{
    char buf[16384];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    cJSON *j = cJSON_Parse(buf);
    if (!j)
        fail_msg("bad JSON in test: %s", buf);
    return j;
}
