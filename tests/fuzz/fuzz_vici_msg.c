/*
 * Fuzz target: what charon (or whatever listens on its socket) sends a
 * vici client. The input is one transport segment: it is split into a
 * packet (type, name, message) and, when it carries a message, decoded
 * into a tree; the whole input is also decoded as a bare message. A tree
 * that decodes must re-encode, through the builder, to exactly the bytes
 * it came from (vici has one encoding). Nothing may crash, leak or read
 * out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/vici.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void rebuild(vmesh_vici_builder *b, const vmesh_vici_node *n)
{
    for (const vmesh_vici_node *c = vmesh_vici_node_first(n); c; c = vmesh_vici_node_next(c)) {
        size_t len = 0;
        const char *v;
        switch (vmesh_vici_node_kind_of(c)) {
        case VMESH_VICI_NODE_SECTION:
            vmesh_vici_section(b, vmesh_vici_node_name(c));
            rebuild(b, c);
            vmesh_vici_section_end(b);
            break;
        case VMESH_VICI_NODE_KV:
            v = vmesh_vici_node_value(c, &len);
            vmesh_vici_add_kv(b, vmesh_vici_node_name(c), v, len);
            break;
        case VMESH_VICI_NODE_LIST:
            vmesh_vici_list(b, vmesh_vici_node_name(c));
            rebuild(b, c);
            vmesh_vici_list_end(b);
            break;
        case VMESH_VICI_NODE_ITEM:
            v = vmesh_vici_node_value(c, &len);
            vmesh_vici_item(b, v, len);
            break;
        }
    }
}

static void check_msg(const uint8_t *p, size_t n)
{
    vmesh_vici_msg *m = NULL;
    vmesh_vici_builder b;

    if (vmesh_vici_msg_parse(p, n, &m) != VMESH_OK)
        return;
    (void)vmesh_vici_node_str(vmesh_vici_msg_root(m), "success");
    vmesh_vici_build_init(&b);
    rebuild(&b, vmesh_vici_msg_root(m));
    if (vmesh_vici_build_end(&b) != VMESH_OK || b.buf.len != n ||
        (n && memcmp(b.buf.data, p, n) != 0))
        __builtin_trap();
    vmesh_vici_build_free(&b);
    vmesh_vici_msg_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_vici_packet pk;

    if (vmesh_vici_packet_parse(data, size, &pk) == VMESH_OK) {
        if (pk.msg_len > size ||
            (pk.msg_len && (pk.msg < data || pk.msg + pk.msg_len > data + size)))
            __builtin_trap();
        check_msg(pk.msg, pk.msg_len);
    }
    check_msg(data, size);
    return 0;
}
