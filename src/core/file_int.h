/* Test hook of src/core/file.c, not part of the API. vmesh_file_write
 * calls it at two points: VMESH_FILE_HOOK_NAME with each temporary name it
 * draws (the hook may rewrite it: tests force names an attacker already
 * took) and VMESH_FILE_HOOK_RENAME after the data is synced, just before
 * the rename (tests swap or steal the temporary file there). Hidden in
 * libvmesh.so. */
#ifndef VMESH_CORE_FILE_INT_H
#define VMESH_CORE_FILE_INT_H
#include <stddef.h>

enum { VMESH_FILE_HOOK_NAME, VMESH_FILE_HOOK_RENAME };
extern void (*vmesh_file__tmp_hook)(int stage, const char *dir, char *name, size_t cap);

#endif
