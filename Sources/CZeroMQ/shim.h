#ifndef FLEET_CZEROMQ_SHIM_H
#define FLEET_CZEROMQ_SHIM_H
// Debian's libzmq3-dev (4.3.x). Only the stable, documented API is used.
#include <zmq.h>

#ifdef __linux__
#include <sys/prctl.h>
// Names the calling thread (max 15 bytes shown). pthread_setname_np needs _GNU_SOURCE,
// which Glibc's Swift module does not set; prctl is variadic, which Swift cannot call.
static inline void fleet_zmq_set_thread_name(const char *name) {
    prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}
#endif
#endif
