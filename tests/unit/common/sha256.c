/* Tests for common/sha256.c against FIPS 180-2 vectors. */
#include "compat.h"

#include <criterion/criterion.h>

#include "sha256.h"

Test(sha256, known_vectors)
{
    char hex[65];
    sha256_hex("", 0, hex);
    cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_hex("abc", 3, hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(sha256, incremental_equals_one_shot)
{
    char a[65], b[65];
    const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    struct sha256 *h = sha256_new();

    for (const char *p = msg; *p; p++)
        sha256_update(h, p, 1);
    sha256_final_hex(h, a);
    sha256_hex(msg, strlen(msg), b);
    cr_assert_str_eq(a, b);
    cr_assert_str_eq(a, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    sha256_reset(h);
    sha256_update(h, "abc", 3);
    sha256_final_hex(h, a);
    cr_assert_str_eq(a, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha256_free(h);
    sha256_free(NULL);
}

Test(sha256, is_hex)
{
    cr_assert(sha256_is_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 64));
    cr_assert_not(sha256_is_hex("E3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 64));
    cr_assert_not(sha256_is_hex("abc", 3));
}
