/*
 * vmesh vici: a client of strongSwan's Versatile IKE Control Interface, the
 * socket protocol through which charon is configured and controlled
 * (strongSwan's src/libcharon/plugins/vici/README.md). It encodes requests,
 * decodes responses and events into a read-only tree, and runs one command
 * at a time over a unix socket with a deadline on every read and write.
 * `vmesh ipsec` uses it to load connections and attestation-derived
 * pre-shared keys into charon without writing a secret to disk.
 *
 * Everything read from the socket is hostile input: every length is checked
 * against what is left and against its cap before anything is allocated, a
 * message must be well formed as a whole (balanced sections, lists only of
 * items, nothing after the end), and nesting is bounded. It must never
 * block without a deadline and never log a value (values may be secrets).
 */
#ifndef VMESH_VICI_H
#define VMESH_VICI_H

#include "vmesh/core.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

/* "The maximum segment length is currently limited to 512KB of data"
 * (vici README, Transport protocol). */
#define VMESH_VICI_PACKET_MAX ((size_t)512 * 1024)
/* Our caps on a decoded message: section nesting and elements. */
#define VMESH_VICI_DEPTH_MAX 16
#define VMESH_VICI_ELEMENTS_MAX 100000
#define VMESH_VICI_NAME_MAX 255    /* 8-bit length */
#define VMESH_VICI_VALUE_MAX 65535 /* 16-bit length */

/* Packet types (README, Packet layer). */
typedef enum {
    VMESH_VICI_CMD_REQUEST = 0,
    VMESH_VICI_CMD_RESPONSE = 1,
    VMESH_VICI_CMD_UNKNOWN = 2,
    VMESH_VICI_EVENT_REGISTER = 3,
    VMESH_VICI_EVENT_UNREGISTER = 4,
    VMESH_VICI_EVENT_CONFIRM = 5,
    VMESH_VICI_EVENT_UNKNOWN = 6,
    VMESH_VICI_EVENT = 7,
} vmesh_vici_packet_type;

/* Message element types (README, Message format). */
typedef enum {
    VMESH_VICI_SECTION_START = 1,
    VMESH_VICI_SECTION_END = 2,
    VMESH_VICI_KEY_VALUE = 3,
    VMESH_VICI_LIST_START = 4,
    VMESH_VICI_LIST_ITEM = 5,
    VMESH_VICI_LIST_END = 6,
} vmesh_vici_element;

/* ---- building a message --------------------------------------------------------------------- */

/* A message under construction. The add functions record the first error
 * (a name over 255 bytes, a value over 65535, a key inside a list, an
 * unbalanced close, nesting over the cap, memory) and ignore everything
 * after it; vmesh_vici_build_end reports it. The buffer is marked secret
 * (wiped on free) because requests carry pre-shared keys and private keys. */
typedef struct {
    vmesh_buf buf;
    unsigned depth;
    bool in_list;
    vmesh_err err;
} vmesh_vici_builder;

void vmesh_vici_build_init(vmesh_vici_builder *b);
void vmesh_vici_build_free(vmesh_vici_builder *b);
void vmesh_vici_add_kv(vmesh_vici_builder *b, const char *name, const void *value, size_t len);
void vmesh_vici_add_str(vmesh_vici_builder *b, const char *name, const char *value);
void vmesh_vici_section(vmesh_vici_builder *b, const char *name);
void vmesh_vici_section_end(vmesh_vici_builder *b);
void vmesh_vici_list(vmesh_vici_builder *b, const char *name);
void vmesh_vici_item(vmesh_vici_builder *b, const void *value, size_t len);
void vmesh_vici_item_str(vmesh_vici_builder *b, const char *value);
void vmesh_vici_list_end(vmesh_vici_builder *b);
/* The first error recorded, or an error when a section or list is still
 * open; VMESH_OK when the message is complete. */
vmesh_err vmesh_vici_build_end(const vmesh_vici_builder *b) VMESH_WUR;

/* ---- decoding ------------------------------------------------------------------------------- */

typedef struct vmesh_vici_msg vmesh_vici_msg;
typedef struct vmesh_vici_node vmesh_vici_node;

/* Decodes a message (the bytes after a packet's type and name). Strict:
 * every element complete, SECTION_START/END balanced, lists not nested,
 * only LIST_ITEMs inside a list and LIST_ITEMs only there, nesting at most
 * VMESH_VICI_DEPTH_MAX, at most VMESH_VICI_ELEMENTS_MAX elements, names
 * non-empty and without NUL bytes. Keys may repeat (charon does not send that; lookups take the
 * first). */
vmesh_err vmesh_vici_msg_parse(const uint8_t *p, size_t n, vmesh_vici_msg **out) VMESH_WUR;
void vmesh_vici_msg_free(vmesh_vici_msg *m);
/* The implicit root section. */
const vmesh_vici_node *vmesh_vici_msg_root(const vmesh_vici_msg *m);

/* Node kinds: a section (children), a key/value, a list (children are
 * items: unnamed values). */
typedef enum {
    VMESH_VICI_NODE_SECTION,
    VMESH_VICI_NODE_KV,
    VMESH_VICI_NODE_LIST,
    VMESH_VICI_NODE_ITEM
} vmesh_vici_node_kind;

vmesh_vici_node_kind vmesh_vici_node_kind_of(const vmesh_vici_node *n);
const char *vmesh_vici_node_name(const vmesh_vici_node *n); /* "" for items and the root */
/* First child of a section or list, and the next sibling; NULL at the end. */
const vmesh_vici_node *vmesh_vici_node_first(const vmesh_vici_node *n);
const vmesh_vici_node *vmesh_vici_node_next(const vmesh_vici_node *n);
/* The first child named name, of any kind; NULL if none (or n is NULL). */
const vmesh_vici_node *vmesh_vici_node_get(const vmesh_vici_node *n, const char *name);
/* The value of a key/value or item: NUL-terminated (the terminator is not
 * counted); *len may be NULL. NULL for sections and lists. */
const char *vmesh_vici_node_value(const vmesh_vici_node *n, size_t *len);
/* vmesh_vici_node_value of the key/value `name` in section n, or NULL
 * when absent, not a key/value, or holding a NUL byte. */
const char *vmesh_vici_node_str(const vmesh_vici_node *n, const char *name);

/* A packet (one transport segment, without the 32-bit length). */
typedef struct {
    vmesh_vici_packet_type type;
    char name[VMESH_VICI_NAME_MAX + 1]; /* named types: REQUEST, REGISTER, UNREGISTER, EVENT */
    const uint8_t *msg;                 /* message bytes (borrowed); types 0, 1, 7 */
    size_t msg_len;
} vmesh_vici_packet;

/* Splits a segment into type, name and message. Unknown types, a name
 * missing or running past the end, or bytes after a packet type that
 * carries no message are refused. */
vmesh_err vmesh_vici_packet_parse(const uint8_t *p, size_t n, vmesh_vici_packet *out) VMESH_WUR;

/* ---- the client ----------------------------------------------------------------------------- */

typedef struct vmesh_vici vmesh_vici;

/* Connects to charon's vici socket: "unix:///path" (charon's own notation)
 * or a plain absolute path. Each later read and write waits at most
 * timeout_ms (0: 10000). */
vmesh_err vmesh_vici_connect(const char *uri, int timeout_ms, vmesh_vici **out) VMESH_WUR;
void vmesh_vici_close(vmesh_vici *v);
/* Changes the per-operation deadline (e.g. before an `initiate` that waits). */
void vmesh_vici_set_timeout(vmesh_vici *v, int timeout_ms);

/* Runs one command: req (NULL: an empty message) must be complete
 * (vmesh_vici_build_end). *resp receives the response message (free with
 * vmesh_vici_msg_free). CMD_UNKNOWN is VMESH_ERR_UNSUPPORTED. After any
 * error other than a well-formed refusal the connection is unusable
 * (VMESH_ERR_STATE on further calls): close it and connect again. */
vmesh_err vmesh_vici_call(vmesh_vici *v, const char *cmd, const vmesh_vici_builder *req,
                          vmesh_vici_msg **resp) VMESH_WUR;

/* Called for every streamed event; an error stops the call (the rest of
 * the stream is still read so the connection stays in step). */
typedef vmesh_err (*vmesh_vici_event_fn)(void *ctx, const vmesh_vici_msg *ev);
/* A command that streams its results as events (list-sas streams
 * "list-sa", list-conns "list-conn"; initiate and terminate "control-log"):
 * registers for `event`, runs the command, hands each event to cb, then
 * unregisters. */
vmesh_err vmesh_vici_call_stream(vmesh_vici *v, const char *cmd, const vmesh_vici_builder *req,
                                 const char *event, vmesh_vici_event_fn cb, void *ctx,
                                 vmesh_vici_msg **resp) VMESH_WUR;

/* Checks a command response of the "success = yes/no, errmsg" form:
 * VMESH_OK when success is "yes", else VMESH_ERR_STATE with charon's
 * errmsg prefixed by what. */
vmesh_err vmesh_vici_check(const vmesh_vici_msg *resp, const char *what) VMESH_WUR;

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
