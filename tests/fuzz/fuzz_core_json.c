/* Fuzz target: the one JSON string escaper. Whatever the bytes, the output
 * is one JSON string: quoted, no raw control character, no unescaped quote
 * or backslash, valid UTF-8; the fixed-array form never overruns and agrees
 * with the growable one on every prefix it writes. */
#include "vmesh/core.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t utf8_ok(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t l = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;

    if (l == 0 || l > n)
        return 0;
    for (size_t i = 1; i < l; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return l;
}

static void check_string(const unsigned char *p, size_t n, int quoted)
{
    size_t i = 0;

    if (quoted) {
        if (n < 2 || p[0] != '"' || p[n - 1] != '"')
            abort();
        p++;
        n -= 2;
    }
    while (i < n) {
        size_t l;
        if (p[i] < 0x20 || p[i] == '"')
            abort();
        if (p[i] == '\\') {
            if (i + 1 >= n)
                abort();
            if (p[i + 1] == 'u') {
                if (i + 6 > n)
                    abort();
                i += 6;
            } else if (p[i + 1] == '"' || p[i + 1] == '\\') {
                i += 2;
            } else {
                abort();
            }
            continue;
        }
        l = utf8_ok(p + i, n - i);
        if (l == 0)
            abort();
        i += l;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_buf b = {0};
    char fixed[64], *cs;
    size_t n;

    if (vmesh_json_str(&b, (const char *)data, size) != VMESH_OK)
        abort();
    check_string(b.data, b.len, 1);
    cs = malloc(size + 1);
    if (cs != NULL) {
        memcpy(cs, data, size);
        cs[size] = '\0';
        n = vmesh_json_str_to(fixed, sizeof(fixed), cs);
        if (n >= sizeof(fixed) || fixed[n] != '\0')
            abort();
        check_string((const unsigned char *)fixed, n, 0);
        /* Same text as the growable form up to where the C string ends. */
        vmesh_buf_reset(&b);
        if (vmesh_json_str(&b, cs, strlen(cs)) != VMESH_OK || n > b.len - 2 || memcmp(b.data + 1, fixed, n) != 0)
            abort();
        free(cs);
    }
    vmesh_buf_free(&b);
    return 0;
}
