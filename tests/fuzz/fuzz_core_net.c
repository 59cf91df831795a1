/* Fuzz target: the one HOST:PORT parser (vmesh_net_parse) and the numeric
 * resolution behind every listen and upstream address. Never crash, never
 * read past the cap; whatever is accepted must print back to an address
 * that parses to the same thing. The resolver is never called. */
#include "vmesh/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *s, unsigned flags)
{
    vmesh_net_hostport hp, again;
    struct sockaddr_storage ss;
    socklen_t len;
    char back[VMESH_NET_ADDR_MAX + 16];

    if (vmesh_net_parse(s, flags, &hp) != VMESH_OK) {
        if (vmesh_err_detail()[0] == '\0')
            abort(); /* every refusal says why */
        return;
    }
    if (strlen(hp.host) > VMESH_NET_HOST_MAX || (hp.port == 0 && !(flags & VMESH_NET_LISTEN)))
        abort();
    snprintf(back, sizeof(back), hp.v6 ? "[%s]:%u" : "%s:%u", hp.host, hp.port);
    if (vmesh_net_parse(back, flags, &again) != VMESH_OK || strcmp(again.host, hp.host) != 0 ||
        again.port != hp.port || again.v6 != hp.v6 || again.name != hp.name)
        abort();
    if (!hp.name && vmesh_net_resolve(s, flags | VMESH_NET_NUMERIC, &ss, &len) != VMESH_OK)
        abort(); /* an accepted literal always resolves without the resolver */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    check(s, 0);
    check(s, VMESH_NET_LISTEN);
    check(s, VMESH_NET_NUMERIC);
    free(s);
    return 0;
}
