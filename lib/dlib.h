/*
 * Libraries opened at first use (dlopen) instead of at program start.
 *
 * For the agent's rarely used features whose libraries are large or pull
 * in large ones: isolation (libnftables) and triage (libarchive, which
 * brings libxml2, ICU and libstdc++).  Linked normally they were mapped,
 * relocated and counted in every agent's memory from start to stop.
 *
 * The caller describes the library once, statically:
 *
 *     static VG_DLSYM(nft_ctx_new);           // sym_nft_ctx_new, typed
 *     static const struct vg_dlsym nft_syms[] = { VG_DLSYM_ENTRY(nft_ctx_new) };
 *     static struct vg_dlib nft_lib =
 *         VG_DLIB_INIT("libnftables.so.1", "isolation needs libnftables1", nft_syms);
 *
 * and calls the functions through their sym_ pointers between a
 * successful vg_dlib_open() and its vg_dlib_close().  The pointers take
 * their types from the library's own header, so the compiler checks
 * every call as before.
 */
#ifndef VG_DLIB_H
#define VG_DLIB_H

#include <pthread.h>
#include <stddef.h>

/* A pointer sym_NAME with NAME's type, declared in the library's header. */
/* A declaration, so its replacement cannot be parenthesised. */
#define VG_DLSYM(name) __typeof__(name) *sym_##name // NOLINT(bugprone-macro-parentheses)
#define VG_DLSYM_ENTRY(name) { #name, (void **)&sym_##name }

struct vg_dlsym {
    const char *name;
    void **fn;
};

struct vg_dlib {
    const char *soname;         /* "libfoo.so.1": the ABI the code was built for */
    const char *need;           /* what a failure message starts with */
    const struct vg_dlsym *syms;
    size_t nsyms;
    pthread_mutex_t lock;
    void *handle;               /* NULL while closed */
    unsigned refs;
};

#define VG_DLIB_INIT(soname, need, syms) \
    { (soname), (need), (syms), sizeof(syms) / sizeof((syms)[0]), PTHREAD_MUTEX_INITIALIZER, NULL, 0 }

/* Opens the library if it is not open yet and resolves every symbol of
 * its table; each call takes a reference.  Thread-safe.  Returns 0, or
 * -ENOENT with err = "NEED: the loader's reason" (library missing, or a
 * symbol missing from it: nothing stays open then). */
int vg_dlib_open(struct vg_dlib *l, char *err, size_t errlen);
/* Drops a reference; the last one closes the library (the loader unmaps
 * it unless something else still uses it) and clears the sym_ pointers. */
void vg_dlib_close(struct vg_dlib *l);
/* 1 while open (a reference is held). */
int vg_dlib_is_open(struct vg_dlib *l);

#endif
