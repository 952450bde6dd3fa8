// C library calls Swift's Glibc module does not export (malloc.h). Header-only: nothing to link.
#ifndef FLEET_CSYSTEMSHIMS_H
#define FLEET_CSYSTEMSHIMS_H

#include <stddef.h>

#if defined(__linux__)
#include <features.h>
#endif

#if defined(__GLIBC__)
#include <malloc.h>

/// Returns freed heap memory to the operating system (all arenas, free pages in the middle too).
static inline int fleet_malloc_trim(void) { return malloc_trim(0); }
#else
/// Other C libraries return memory on their own terms; nothing to do.
static inline int fleet_malloc_trim(void) { return 0; }
#endif

#endif
