/* buf: the maximum is never exceeded (and a refused append changes
 * nothing), the data is always NUL-terminated, printf/consume/take/reset/
 * free, and no size arithmetic wraps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"

static void test_init(void **state)
{
    struct vg_buf b;
    (void)state;

    memset(&b, 0xa5, sizeof(b));
    vg_buf_init(&b, 100);
    assert_null(b.data); /* allocates nothing */
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.max, 100);
    vg_buf_free(&b);
}

static void test_append_and_nul(void **state)
{
    struct vg_buf b;
    (void)state;

    vg_buf_init(&b, 100);
    assert_int_equal(vg_buf_append(&b, "abc", 3), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "abc", 4); /* includes the NUL */
    assert_int_equal(vg_buf_append_str(&b, "def"), 0);
    assert_int_equal(b.len, 6);
    assert_string_equal((char *)b.data, "abcdef");
    assert_true(b.cap >= b.len + 1);
    /* Binary data with NULs: len counts them, the terminator follows. */
    assert_int_equal(vg_buf_append(&b, "\0x\0", 3), 0);
    assert_int_equal(b.len, 9);
    assert_memory_equal(b.data, "abcdef\0x\0\0", 10);
    vg_buf_free(&b);
}

/* An empty append still yields a valid empty C string. */
static void test_append_empty(void **state)
{
    struct vg_buf b;
    (void)state;

    vg_buf_init(&b, 100);
    assert_int_equal(vg_buf_append(&b, NULL, 0), 0);
    assert_non_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.data[0], '\0');
    assert_int_equal(vg_buf_append_str(&b, ""), 0);
    assert_int_equal(b.len, 0);
    assert_string_equal((char *)b.data, "");
    vg_buf_free(&b);
}

static void test_max_enforced(void **state)
{
    struct vg_buf b;
    (void)state;

    vg_buf_init(&b, 10);
    assert_int_equal(vg_buf_append(&b, "0123456789", 10), 0); /* exactly max */
    assert_int_equal(b.len, 10);
    assert_true(b.cap <= b.max + 1); /* never allocates beyond max + NUL */
    assert_int_equal(vg_buf_append(&b, "x", 1), VG_ETOOBIG);
    assert_int_equal(b.len, 10);
    assert_string_equal((char *)b.data, "0123456789");
    assert_int_equal(vg_buf_append_str(&b, "y"), VG_ETOOBIG);
    assert_string_equal((char *)b.data, "0123456789");
    assert_int_equal(vg_buf_append(&b, NULL, 0), 0); /* zero bytes still fit */
    assert_int_equal(b.len, 10);
    vg_buf_free(&b);

    /* Refused as a whole: no partial append up to the limit. */
    vg_buf_init(&b, 10);
    assert_int_equal(vg_buf_append(&b, "abcdef", 6), 0);
    assert_int_equal(vg_buf_append(&b, "ghijk", 5), VG_ETOOBIG);
    assert_int_equal(b.len, 6);
    assert_string_equal((char *)b.data, "abcdef");
    assert_int_equal(vg_buf_append(&b, "ghij", 4), 0);
    assert_string_equal((char *)b.data, "abcdefghij");
    vg_buf_free(&b);

    /* A first append over max allocates nothing. */
    vg_buf_init(&b, 4);
    assert_int_equal(vg_buf_append(&b, "hello", 5), VG_ETOOBIG);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    vg_buf_free(&b);
}

static void test_max_zero(void **state)
{
    struct vg_buf b;
    (void)state;

    vg_buf_init(&b, 0);
    assert_int_equal(vg_buf_append(&b, "x", 1), VG_ETOOBIG);
    assert_int_equal(vg_buf_append(&b, "", 0), 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.data[0], '\0');
    assert_int_equal(vg_buf_printf(&b, "%d", 1), VG_ETOOBIG);
    assert_int_equal(b.data[0], '\0');
    vg_buf_free(&b);
}

/* Many small appends: growth keeps every byte and stays within max + 1. */
static void test_growth(void **state)
{
    struct vg_buf b;
    const size_t max = 100000;
    (void)state;

    vg_buf_init(&b, max);
    for (size_t i = 0; i < max; i++) {
        char c = (char)('a' + i % 26);
        assert_int_equal(vg_buf_append(&b, &c, 1), 0);
        assert_int_equal(b.data[b.len], '\0');
    }
    assert_int_equal(b.len, max);
    assert_true(b.cap <= max + 1);
    for (size_t i = 0; i < max; i++)
        assert_int_equal(b.data[i], 'a' + i % 26);
    assert_int_equal(vg_buf_append(&b, "!", 1), VG_ETOOBIG);
    vg_buf_free(&b);
}

static void test_printf(void **state)
{
    struct vg_buf b;
    (void)state;

    vg_buf_init(&b, 32);
    assert_int_equal(vg_buf_printf(&b, "%s-%d", "abc", 42), 0);
    assert_int_equal(b.len, 6);
    assert_string_equal((char *)b.data, "abc-42");
    assert_int_equal(vg_buf_printf(&b, "[%05u]", 7u), 0); /* appends */
    assert_int_equal(b.len, 13);
    assert_string_equal((char *)b.data, "abc-42[00007]");
    assert_int_equal(vg_buf_printf(&b, "%s", ""), 0);
    assert_int_equal(b.len, 13);
    assert_string_equal((char *)b.data, "abc-42[00007]");
    vg_buf_free(&b);
}

static void test_printf_max(void **state)
{
    struct vg_buf b;
    (void)state;

    vg_buf_init(&b, 10);
    assert_int_equal(vg_buf_printf(&b, "%s", "12345"), 0);
    assert_int_equal(vg_buf_printf(&b, "%s", "678901"), VG_ETOOBIG);
    assert_int_equal(b.len, 5);
    assert_string_equal((char *)b.data, "12345");
    assert_int_equal(vg_buf_printf(&b, "%d", 67890), 0); /* exactly to max */
    assert_int_equal(b.len, 10);
    assert_string_equal((char *)b.data, "1234567890");
    assert_int_equal(vg_buf_printf(&b, "%c", 'x'), VG_ETOOBIG);
    assert_string_equal((char *)b.data, "1234567890");
    vg_buf_free(&b);

    /* Output much larger than max: refused before any allocation. */
    vg_buf_init(&b, 10);
    assert_int_equal(vg_buf_printf(&b, "%1000d", 1), VG_ETOOBIG);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    vg_buf_free(&b);
}

static void test_consume(void **state)
{
    struct vg_buf b;
    (void)state;

    vg_buf_init(&b, 100);
    vg_buf_consume(&b, 0); /* on a never-used buffer */
    vg_buf_consume(&b, 5);
    assert_int_equal(b.len, 0);

    assert_int_equal(vg_buf_append_str(&b, "abcdef"), 0);
    vg_buf_consume(&b, 0);
    assert_string_equal((char *)b.data, "abcdef");
    vg_buf_consume(&b, 2);
    assert_int_equal(b.len, 4);
    assert_string_equal((char *)b.data, "cdef");
    vg_buf_consume(&b, 3);
    assert_int_equal(b.len, 1);
    assert_string_equal((char *)b.data, "f");
    vg_buf_consume(&b, 1); /* exactly len */
    assert_int_equal(b.len, 0);
    assert_string_equal((char *)b.data, "");

    assert_int_equal(vg_buf_append_str(&b, "xyz"), 0);
    vg_buf_consume(&b, 1000); /* more than len: empties */
    assert_int_equal(b.len, 0);
    assert_string_equal((char *)b.data, "");
    /* Consumed space is reusable up to max again. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(vg_buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(vg_buf_append(&b, "x", 1), VG_ETOOBIG);
    vg_buf_consume(&b, 95);
    assert_string_equal((char *)b.data, "56789");
    assert_int_equal(vg_buf_append(&b, "abc", 3), 0);
    assert_string_equal((char *)b.data, "56789abc");
    vg_buf_free(&b);
}

static void test_take(void **state)
{
    struct vg_buf b;
    uint8_t *p;
    size_t len = 99;
    (void)state;

    vg_buf_init(&b, 100);
    /* Nothing appended: NULL and 0. */
    assert_null(vg_buf_take(&b, &len));
    assert_int_equal(len, 0);

    assert_int_equal(vg_buf_append_str(&b, "owned"), 0);
    p = vg_buf_take(&b, &len);
    assert_non_null(p);
    assert_int_equal(len, 5);
    assert_string_equal((char *)p, "owned");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.max, 100);

    /* b is reusable and independent of the taken storage. */
    assert_int_equal(vg_buf_append_str(&b, "again"), 0);
    assert_string_equal((char *)b.data, "again");
    assert_string_equal((char *)p, "owned");
    free(p);

    p = vg_buf_take(&b, NULL);
    assert_string_equal((char *)p, "again");
    free(p);
    vg_buf_free(&b); /* nothing left to free */
}

static void test_reset(void **state)
{
    struct vg_buf b;
    size_t cap;
    (void)state;

    vg_buf_init(&b, 100);
    vg_buf_reset(&b); /* never used: fine */
    assert_null(b.data);
    assert_int_equal(b.len, 0);

    assert_int_equal(vg_buf_append_str(&b, "hello"), 0);
    cap = b.cap;
    vg_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap); /* storage kept */
    assert_string_equal((char *)b.data, "");
    assert_int_equal(vg_buf_append_str(&b, "hi"), 0);
    assert_string_equal((char *)b.data, "hi");
    vg_buf_free(&b);
}

static void test_free_and_reuse(void **state)
{
    struct vg_buf b;
    (void)state;

    vg_buf_init(&b, 100);
    vg_buf_free(&b); /* empty buffer */
    assert_null(b.data);
    vg_buf_free(&b); /* twice */

    assert_int_equal(vg_buf_append_str(&b, "secret"), 0);
    vg_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.max, 100); /* reusable with the same limit */
    assert_int_equal(vg_buf_append_str(&b, "again"), 0);
    assert_string_equal((char *)b.data, "again");
    vg_buf_free(&b);
}

/* len + extra must not wrap around: a huge extra is over max, not small. */
static void test_reserve_overflow(void **state)
{
    struct vg_buf b;
    (void)state;

    vg_buf_init(&b, 1024);
    assert_int_equal(vg_buf_reserve(&b, SIZE_MAX), VG_ETOOBIG);
    assert_int_equal(vg_buf_reserve(&b, SIZE_MAX - 1), VG_ETOOBIG);
    assert_null(b.data);
    assert_int_equal(vg_buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(vg_buf_reserve(&b, SIZE_MAX), VG_ETOOBIG);
    assert_int_equal(vg_buf_reserve(&b, SIZE_MAX - 5), VG_ETOOBIG);
    assert_int_equal(vg_buf_reserve(&b, SIZE_MAX - 10), VG_ETOOBIG);
    assert_int_equal(vg_buf_reserve(&b, 1015), VG_ETOOBIG);
    assert_int_equal(vg_buf_reserve(&b, 1014), 0); /* len + extra == max */
    assert_int_equal(b.cap, 1025); /* clamped to max + NUL */
    /* An append of SIZE_MAX bytes is refused before p is read. */
    assert_int_equal(vg_buf_append(&b, "x", SIZE_MAX), VG_ETOOBIG);
    assert_int_equal(b.len, 10);
    assert_string_equal((char *)b.data, "0123456789");
    vg_buf_free(&b);

    /* The same near the top of the size range. */
    vg_buf_init(&b, SIZE_MAX - 1);
    assert_int_equal(vg_buf_reserve(&b, SIZE_MAX), VG_ETOOBIG);
    assert_int_equal(vg_buf_append(&b, "ab", 2), 0);
    assert_int_equal(vg_buf_reserve(&b, SIZE_MAX - 2), VG_ETOOBIG);
    assert_int_equal(vg_buf_append(&b, "x", SIZE_MAX - 2), VG_ETOOBIG);
    assert_int_equal(b.len, 2);
    assert_string_equal((char *)b.data, "ab");
    vg_buf_free(&b);
}

/* Storage a burst made the buffer grow to goes back once the content
 * fits in what it keeps; the content survives. */
static void test_trim(void **state)
{
    struct vg_buf b;
    uint8_t chunk[1000];
    (void)state;

    memset(chunk, 'x', sizeof(chunk));
    vg_buf_init(&b, 1 << 20);
    /* Small buffers are left alone. */
    assert_int_equal(vg_buf_append(&b, "abc", 3), 0);
    assert_int_equal(vg_buf_trim(&b, 16 * 1024), b.cap);
    assert_true(b.cap <= 16 * 1024);
    assert_string_equal((char *)b.data, "abc");
    for (int i = 0; i < 200; i++)
        assert_int_equal(vg_buf_append(&b, chunk, sizeof(chunk)), 0);
    assert_true(b.cap > 200000);
    /* Content over keep: nothing moves. */
    assert_true(vg_buf_trim(&b, 16 * 1024) > 200000);
    /* Content under keep: storage is keep bytes, content intact. */
    vg_buf_consume(&b, b.len - 100);
    assert_int_equal(vg_buf_trim(&b, 16 * 1024), 16 * 1024);
    assert_int_equal(b.cap, 16 * 1024);
    assert_int_equal(b.len, 100);
    assert_int_equal(b.data[100], '\0');
    assert_int_equal(memcmp(b.data, chunk, 100), 0);
    /* Empty: freed, the maximum kept, usable again. */
    vg_buf_reset(&b);
    assert_int_equal(vg_buf_trim(&b, 1024), 0);
    assert_null(b.data);
    assert_int_equal(b.max, 1 << 20);
    assert_int_equal(vg_buf_append(&b, "z", 1), 0);
    assert_string_equal((char *)b.data, "z");
    vg_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_append_and_nul),
        cmocka_unit_test(test_append_empty),
        cmocka_unit_test(test_max_enforced),
        cmocka_unit_test(test_max_zero),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_printf_max),
        cmocka_unit_test(test_consume),
        cmocka_unit_test(test_take),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_free_and_reuse),
        cmocka_unit_test(test_reserve_overflow),
        cmocka_unit_test(test_trim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
