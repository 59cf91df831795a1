/*
 * Internal declarations shared by the files of the atls module only.
 * Nothing outside src/atls may include this.
 */
#ifndef VMESH_ATLS_INT_H
#define VMESH_ATLS_INT_H

#include "vmesh/atls.h"
#include "vmesh/cbor.h"
#include "vmesh/crypto.h"

#endif
