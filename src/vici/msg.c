/*
 * The vici message and packet codec (strongSwan vici README, "Packet layer"
 * and "Message format"). The builder writes requests; the parser turns a
 * response or event into a tree of nodes allocated in one arena. The parser
 * reads hostile bytes: it checks every length against what is left before
 * it looks at it and never allocates more than the message's own size plus
 * one node per element.
 */
#include "vmesh/vici.h"

#include <stdlib.h>
#include <string.h>

/* ---- builder -------------------------------------------------------------------------------- */

void vmesh_vici_build_init(vmesh_vici_builder *b)
{
    memset(b, 0, sizeof(*b));
    vmesh_buf_init(&b->buf, VMESH_VICI_PACKET_MAX);
    b->buf.secret = true;
}

void vmesh_vici_build_free(vmesh_vici_builder *b)
{
    vmesh_buf_free(&b->buf);
    memset(b, 0, sizeof(*b));
}

static void fail(vmesh_vici_builder *b, vmesh_err e)
{
    if (b->err == VMESH_OK)
        b->err = e;
}

static void put_name(vmesh_vici_builder *b, uint8_t type, const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (b->err != VMESH_OK)
        return;
    if (n == 0 || n > VMESH_VICI_NAME_MAX) {
        fail(b,
             vmesh_err_set(VMESH_ERR_ARG, "vici: element name of %zu bytes (1..255 allowed)", n));
        return;
    }
    if (vmesh_buf_append_u8(&b->buf, type) != VMESH_OK ||
        vmesh_buf_append_u8(&b->buf, (uint8_t)n) != VMESH_OK ||
        vmesh_buf_append(&b->buf, name, n) != VMESH_OK)
        fail(b, VMESH_ERR_TOO_LARGE);
}

static void put_value(vmesh_vici_builder *b, const void *value, size_t len)
{
    uint8_t hdr[2];

    if (b->err != VMESH_OK)
        return;
    if (len > VMESH_VICI_VALUE_MAX) {
        fail(b,
             vmesh_err_set(VMESH_ERR_TOO_LARGE, "vici: value of %zu bytes (at most 65535)", len));
        return;
    }
    hdr[0] = (uint8_t)(len >> 8);
    hdr[1] = (uint8_t)len;
    if (vmesh_buf_append(&b->buf, hdr, 2) != VMESH_OK ||
        vmesh_buf_append(&b->buf, value, len) != VMESH_OK)
        fail(b, VMESH_ERR_TOO_LARGE);
}

void vmesh_vici_add_kv(vmesh_vici_builder *b, const char *name, const void *value, size_t len)
{
    /* "Key/values may not appear in lists, use a sub-section instead." */
    if (b->in_list)
        fail(b, vmesh_err_set(VMESH_ERR_STATE, "vici: key \"%s\" inside a list", name ? name : ""));
    put_name(b, VMESH_VICI_KEY_VALUE, name);
    put_value(b, value, len);
}

void vmesh_vici_add_str(vmesh_vici_builder *b, const char *name, const char *value)
{
    vmesh_vici_add_kv(b, name, value, value ? strlen(value) : 0);
}

void vmesh_vici_section(vmesh_vici_builder *b, const char *name)
{
    if (b->in_list)
        fail(b, vmesh_err_set(VMESH_ERR_STATE, "vici: section inside a list"));
    else if (b->depth >= VMESH_VICI_DEPTH_MAX)
        fail(b, vmesh_err_set(VMESH_ERR_TOO_LARGE, "vici: sections nested deeper than %d",
                              VMESH_VICI_DEPTH_MAX));
    put_name(b, VMESH_VICI_SECTION_START, name);
    if (b->err == VMESH_OK)
        b->depth++;
}

void vmesh_vici_section_end(vmesh_vici_builder *b)
{
    if (b->err != VMESH_OK)
        return;
    if (b->in_list || b->depth == 0) {
        fail(b, vmesh_err_set(VMESH_ERR_STATE, "vici: section end without an open section"));
        return;
    }
    b->depth--;
    if (vmesh_buf_append_u8(&b->buf, VMESH_VICI_SECTION_END) != VMESH_OK)
        fail(b, VMESH_ERR_TOO_LARGE);
}

void vmesh_vici_list(vmesh_vici_builder *b, const char *name)
{
    /* "Lists ... may not be nested." */
    if (b->in_list)
        fail(b, vmesh_err_set(VMESH_ERR_STATE, "vici: nested list"));
    put_name(b, VMESH_VICI_LIST_START, name);
    if (b->err == VMESH_OK)
        b->in_list = true;
}

void vmesh_vici_item(vmesh_vici_builder *b, const void *value, size_t len)
{
    if (b->err != VMESH_OK)
        return;
    if (!b->in_list) {
        fail(b, vmesh_err_set(VMESH_ERR_STATE, "vici: list item outside a list"));
        return;
    }
    if (vmesh_buf_append_u8(&b->buf, VMESH_VICI_LIST_ITEM) != VMESH_OK) {
        fail(b, VMESH_ERR_TOO_LARGE);
        return;
    }
    put_value(b, value, len);
}

void vmesh_vici_item_str(vmesh_vici_builder *b, const char *value)
{
    vmesh_vici_item(b, value, value ? strlen(value) : 0);
}

void vmesh_vici_list_end(vmesh_vici_builder *b)
{
    if (b->err != VMESH_OK)
        return;
    if (!b->in_list) {
        fail(b, vmesh_err_set(VMESH_ERR_STATE, "vici: list end without an open list"));
        return;
    }
    b->in_list = false;
    if (vmesh_buf_append_u8(&b->buf, VMESH_VICI_LIST_END) != VMESH_OK)
        fail(b, VMESH_ERR_TOO_LARGE);
}

vmesh_err vmesh_vici_build_end(const vmesh_vici_builder *b)
{
    if (b->err != VMESH_OK)
        return b->err;
    if (b->in_list || b->depth != 0)
        return vmesh_err_set(VMESH_ERR_STATE, "vici: message ends with an open %s",
                             b->in_list ? "list" : "section");
    return VMESH_OK;
}

/* ---- parser --------------------------------------------------------------------------------- */

struct vmesh_vici_node {
    vmesh_vici_node_kind kind;
    const char *name;  /* in the arena, NUL-terminated */
    const char *value; /* KV and ITEM: in the arena, NUL-terminated */
    size_t value_len;
    struct vmesh_vici_node *first, *last, *next;
};

struct vmesh_vici_msg {
    vmesh_vici_node root;
    vmesh_vici_node *nodes; /* one per element that makes a node */
    size_t nnodes;
    char *text; /* names and values, each NUL-terminated */
    size_t text_len;
};

void vmesh_vici_msg_free(vmesh_vici_msg *m)
{
    if (m == NULL)
        return;
    /* values may be secrets (a list-sa event carries none, but a caller
     * might decode its own request in a test) */
    if (m->text)
        memset(m->text, 0, m->text_len);
    free(m->text);
    free(m->nodes);
    free(m);
}

const vmesh_vici_node *vmesh_vici_msg_root(const vmesh_vici_msg *m)
{
    return m ? &m->root : NULL;
}

/* First pass: validate and count; second pass: build. One function with a
 * `build` flag keeps the two passes from ever disagreeing. */
static vmesh_err walk(const uint8_t *p, size_t n, vmesh_vici_msg *m, bool build, size_t *nnodes,
                      size_t *ntext)
{
    vmesh_vici_node *stack[VMESH_VICI_DEPTH_MAX + 1];
    vmesh_vici_node *list = NULL;
    size_t off = 0, depth = 0, elements = 0, nodes = 0, text = 0;
    bool in_list = false;

    stack[0] = build ? &m->root : NULL;
    while (off < n) {
        uint8_t type = p[off++];
        const uint8_t *name = NULL, *value = NULL;
        size_t name_len = 0, value_len = 0;
        vmesh_vici_node *node = NULL;

        if (++elements > VMESH_VICI_ELEMENTS_MAX)
            return vmesh_err_set(VMESH_ERR_TOO_LARGE, "vici message: more than %d elements",
                                 VMESH_VICI_ELEMENTS_MAX);
        if (type == VMESH_VICI_SECTION_START || type == VMESH_VICI_KEY_VALUE ||
            type == VMESH_VICI_LIST_START) {
            if (off >= n)
                return vmesh_err_set(VMESH_ERR_PARSE,
                                     "vici message: element %u truncated before its name", type);
            name_len = p[off++];
            if (name_len == 0)
                return vmesh_err_set(VMESH_ERR_PARSE, "vici message: empty element name");
            if (name_len > n - off)
                return vmesh_err_set(VMESH_ERR_PARSE,
                                     "vici message: name of %zu bytes runs past the end", name_len);
            name = p + off;
            /* "The name is an ASCII string": a NUL inside would make two
             * different names look up the same */
            if (memchr(name, '\0', name_len) != NULL)
                return vmesh_err_set(VMESH_ERR_PARSE, "vici message: NUL byte in an element name");
            off += name_len;
        }
        if (type == VMESH_VICI_KEY_VALUE || type == VMESH_VICI_LIST_ITEM) {
            if (n - off < 2)
                return vmesh_err_set(VMESH_ERR_PARSE, "vici message: value length truncated");
            value_len = (size_t)p[off] << 8 | p[off + 1];
            off += 2;
            if (value_len > n - off)
                return vmesh_err_set(VMESH_ERR_PARSE,
                                     "vici message: value of %zu bytes runs past the end",
                                     value_len);
            value = p + off;
            off += value_len;
        }
        switch (type) {
        case VMESH_VICI_SECTION_START:
        case VMESH_VICI_KEY_VALUE:
        case VMESH_VICI_LIST_START:
            if (in_list)
                return vmesh_err_set(VMESH_ERR_PARSE, "vici message: element %u inside a list",
                                     type);
            if (type == VMESH_VICI_SECTION_START && depth >= VMESH_VICI_DEPTH_MAX)
                return vmesh_err_set(VMESH_ERR_TOO_LARGE,
                                     "vici message: sections nested deeper than %d",
                                     VMESH_VICI_DEPTH_MAX);
            break;
        case VMESH_VICI_SECTION_END:
            if (in_list || depth == 0)
                return vmesh_err_set(VMESH_ERR_PARSE,
                                     "vici message: section end without an open section");
            depth--;
            continue;
        case VMESH_VICI_LIST_ITEM:
            if (!in_list)
                return vmesh_err_set(VMESH_ERR_PARSE, "vici message: list item outside a list");
            break;
        case VMESH_VICI_LIST_END:
            if (!in_list)
                return vmesh_err_set(VMESH_ERR_PARSE,
                                     "vici message: list end without an open list");
            in_list = false;
            list = NULL;
            continue;
        default:
            return vmesh_err_set(VMESH_ERR_PARSE, "vici message: unknown element type %u", type);
        }
        /* a node: section, key/value, list or item */
        if (build) {
            vmesh_vici_node *parent = type == VMESH_VICI_LIST_ITEM ? list : stack[depth];
            char *t = m->text + text;
            node = &m->nodes[nodes];
            memset(node, 0, sizeof(*node));
            node->kind = type == VMESH_VICI_SECTION_START ? VMESH_VICI_NODE_SECTION
                         : type == VMESH_VICI_KEY_VALUE   ? VMESH_VICI_NODE_KV
                         : type == VMESH_VICI_LIST_START  ? VMESH_VICI_NODE_LIST
                                                          : VMESH_VICI_NODE_ITEM;
            if (name_len)
                memcpy(t, name, name_len);
            t[name_len] = '\0';
            node->name = t;
            t += name_len + 1;
            if (value != NULL) {
                if (value_len)
                    memcpy(t, value, value_len);
                t[value_len] = '\0';
                node->value = t;
                node->value_len = value_len;
            }
            if (parent->last)
                parent->last->next = node;
            else
                parent->first = node;
            parent->last = node;
        }
        nodes++;
        text += name_len + 1 + (value != NULL ? value_len + 1 : 0);
        if (type == VMESH_VICI_SECTION_START) {
            depth++;
            if (build)
                stack[depth] = node;
        } else if (type == VMESH_VICI_LIST_START) {
            in_list = true;
            list = node;
        }
    }
    if (in_list || depth != 0)
        return vmesh_err_set(VMESH_ERR_PARSE, "vici message: ends inside an open %s",
                             in_list ? "list" : "section");
    *nnodes = nodes;
    *ntext = text;
    return VMESH_OK;
}

vmesh_err vmesh_vici_msg_parse(const uint8_t *p, size_t n, vmesh_vici_msg **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_vici_msg *m = NULL;
    size_t nnodes = 0, ntext = 0;

    *out = NULL;
    VMESH_ENSURE(n <= VMESH_VICI_PACKET_MAX, VMESH_ERR_TOO_LARGE,
                 "vici message of %zu bytes (at most %zu)", n, VMESH_VICI_PACKET_MAX);
    VMESH_GUARD(walk(p, n, NULL, false, &nnodes, &ntext));
    m = calloc(1, sizeof(*m));
    VMESH_ENSURE(m != NULL, VMESH_ERR_NOMEM, "out of memory");
    m->root.kind = VMESH_VICI_NODE_SECTION;
    m->root.name = "";
    /* nnodes and ntext are bounded by n (each node costs at least one input
     * byte, each text byte one input byte plus one NUL per node) */
    m->nodes = calloc(nnodes ? nnodes : 1, sizeof(*m->nodes));
    m->text = malloc(ntext ? ntext : 1);
    m->text_len = ntext;
    VMESH_ENSURE(m->nodes != NULL && m->text != NULL, VMESH_ERR_NOMEM, "out of memory");
    m->nnodes = nnodes;
    VMESH_GUARD(walk(p, n, m, true, &nnodes, &ntext));
    *out = m;
    m = NULL;
out:
    vmesh_vici_msg_free(m);
    return rc;
}

vmesh_vici_node_kind vmesh_vici_node_kind_of(const vmesh_vici_node *n)
{
    return n->kind;
}

const char *vmesh_vici_node_name(const vmesh_vici_node *n)
{
    return n && n->name ? n->name : "";
}

const vmesh_vici_node *vmesh_vici_node_first(const vmesh_vici_node *n)
{
    return n ? n->first : NULL;
}

const vmesh_vici_node *vmesh_vici_node_next(const vmesh_vici_node *n)
{
    return n ? n->next : NULL;
}

const vmesh_vici_node *vmesh_vici_node_get(const vmesh_vici_node *n, const char *name)
{
    if (n == NULL || (n->kind != VMESH_VICI_NODE_SECTION && n->kind != VMESH_VICI_NODE_LIST))
        return NULL;
    for (const vmesh_vici_node *c = n->first; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

const char *vmesh_vici_node_value(const vmesh_vici_node *n, size_t *len)
{
    if (n == NULL || n->value == NULL)
        return NULL;
    if (len)
        *len = n->value_len;
    return n->value;
}

const char *vmesh_vici_node_str(const vmesh_vici_node *n, const char *name)
{
    const vmesh_vici_node *c = vmesh_vici_node_get(n, name);
    size_t len = 0;
    const char *v;

    if (c == NULL || c->kind != VMESH_VICI_NODE_KV)
        return NULL;
    v = vmesh_vici_node_value(c, &len);
    return v && strlen(v) == len ? v : NULL;
}

/* ---- packets -------------------------------------------------------------------------------- */

vmesh_err vmesh_vici_packet_parse(const uint8_t *p, size_t n, vmesh_vici_packet *out)
{
    size_t off = 1;
    bool named, has_msg;

    memset(out, 0, sizeof(*out));
    if (n == 0)
        return vmesh_err_set(VMESH_ERR_PARSE, "vici packet: empty");
    if (n > VMESH_VICI_PACKET_MAX)
        return vmesh_err_set(VMESH_ERR_TOO_LARGE, "vici packet of %zu bytes (at most %zu)", n,
                             VMESH_VICI_PACKET_MAX);
    if (p[0] > VMESH_VICI_EVENT)
        return vmesh_err_set(VMESH_ERR_PARSE, "vici packet: unknown type %u", p[0]);
    out->type = (vmesh_vici_packet_type)p[0];
    named = out->type == VMESH_VICI_CMD_REQUEST || out->type == VMESH_VICI_EVENT_REGISTER ||
            out->type == VMESH_VICI_EVENT_UNREGISTER || out->type == VMESH_VICI_EVENT;
    has_msg = out->type == VMESH_VICI_CMD_REQUEST || out->type == VMESH_VICI_CMD_RESPONSE ||
              out->type == VMESH_VICI_EVENT;
    if (named) {
        size_t len;
        if (off >= n)
            return vmesh_err_set(VMESH_ERR_PARSE, "vici packet: name length missing");
        len = p[off++];
        if (len == 0 || len > n - off)
            return vmesh_err_set(VMESH_ERR_PARSE, "vici packet: name of %zu bytes does not fit",
                                 len);
        memcpy(out->name, p + off, len);
        out->name[len] = '\0';
        if (strlen(out->name) != len)
            return vmesh_err_set(VMESH_ERR_PARSE, "vici packet: NUL byte in the name");
        off += len;
    }
    if (!has_msg && off != n)
        return vmesh_err_set(VMESH_ERR_PARSE,
                             "vici packet: %zu unexpected bytes after a type-%u packet", n - off,
                             out->type);
    out->msg = p + off;
    out->msg_len = n - off;
    return VMESH_OK;
}
