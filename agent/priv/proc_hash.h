/*
 * SHA-256 of executables, cached by (device, inode, size, mtime) and
 * computed on libuv's thread pool (see proc_hash.c).
 */
#ifndef VG_PROC_HASH_H
#define VG_PROC_HASH_H

#include <stdint.h>
#include <uv.h>

struct proc_hasher;

struct proc_hasher *proc_hasher_new(uv_loop_t *loop, uint64_t max_size,
                                    void (*ready)(void *ctx, uint64_t ticket, const char *sha,
                                                  const char *note),
                                    void *ctx);
/* 1: known now (sha filled, or a note: "gone", "too big", "unreadable");
 * 0: being hashed, ready(ticket) follows; -1: the queue is full ("busy"). */
int proc_hasher_lookup(struct proc_hasher *h, const char *path, char sha[65], const char **note,
                       uint64_t *ticket);
/* Stops: no more ready() calls. */
void proc_hasher_close(struct proc_hasher *h);

#endif
