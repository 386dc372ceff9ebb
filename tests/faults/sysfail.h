/* Syscall-error injection (tests/faults/sysfail.c): make chosen system
 * calls fail with the errno the kernel would return, in the process the
 * shim is part of. Linked into a test program, its definitions of
 * accept4, socket, send ... take the place of libc's for every caller in
 * the program (weft's static library included) and reach the real ones
 * through dlsym(RTLD_NEXT); built as libweft_sysfail.so it does the same
 * for any program under LD_PRELOAD, driven by the environment:
 *
 *   WEFT_SYSFAIL="accept4:EMFILE:3"        fail the 3rd accept4 call
 *   WEFT_SYSFAIL="send:ENOBUFS:1:2,read:EINTR:5:-1"
 *       fail the 1st and 2nd send, and every read from the 5th on
 *
 * Calls made inside glibc (its own read in fread, malloc's mmap) and raw
 * syscall(2)s other than pidfd_open are not seen. */
#ifndef WEFT_SYSFAIL_H
#define WEFT_SYSFAIL_H

#ifdef __cplusplus
extern "C" {
#endif

/* Fail calls of `call` (its libc name; "pidfd_open" for that syscall(2))
 * from its nth matching call on (1 = the next one), `times` calls in a row
 * (-1: every call from then on), with errno `err` (pthread_create and
 * posix_spawn return it instead; mmap returns MAP_FAILED). fd >= 0 limits
 * the rule to calls on that descriptor (the first argument of read,
 * send, epoll_ctl's third ...); -1: any. Several rules may be set; calls
 * count per rule from the moment it is added. Returns 0, or -EINVAL
 * (unknown call, bad nth) / -ENOSPC (16 rules already). */
int sysfail_add(const char *call, int err, long nth, long times);
int sysfail_add_fd(const char *call, int fd, int err, long nth, long times);

/* Parse a WEFT_SYSFAIL string and add its rules ("call:ERRNO:nth[:times]"
 * joined by commas; ERRNO by name or number). Returns 0 or -EINVAL. */
int sysfail_parse(const char *spec);

/* Remove every rule and zero the counters. */
void sysfail_clear(void);

/* Calls of `call` made since the last sysfail_clear (on any fd, failed or
 * not), and how many of them were failed. -1 for an unknown call. */
long sysfail_calls(const char *call);
long sysfail_failed(const char *call);

#ifdef __cplusplus
}
#endif

#endif
