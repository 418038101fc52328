#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

#include "dlib.h"

static void clear(struct vg_dlib *l)
{
    for (size_t i = 0; i < l->nsyms; i++)
        *l->syms[i].fn = NULL;
}

int vg_dlib_open(struct vg_dlib *l, char *err, size_t errlen)
{
    int rc = 0;

    pthread_mutex_lock(&l->lock);
    if (l->handle) {
        l->refs++;
        goto out;
    }
    /* RTLD_NOW: a missing symbol fails here, not in the middle of an
     * isolation.  RTLD_LOCAL: nothing of it leaks into later lookups. */
    l->handle = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
    if (!l->handle) {
        const char *e = dlerror();
        snprintf(err, errlen, "%s: %s", l->need, e ? e : l->soname);
        rc = -ENOENT;
        goto out;
    }
    for (size_t i = 0; i < l->nsyms; i++) {
        void *p;
        dlerror();
        p = dlsym(l->handle, l->syms[i].name);
        if (!p) {
            const char *e = dlerror();
            snprintf(err, errlen, "%s: %s: %s", l->need, l->soname, e ? e : l->syms[i].name);
            clear(l);
            dlclose(l->handle);
            l->handle = NULL;
            rc = -ENOENT;
            goto out;
        }
        *l->syms[i].fn = p;
    }
    l->refs = 1;
out:
    pthread_mutex_unlock(&l->lock);
    return rc;
}

void vg_dlib_close(struct vg_dlib *l)
{
    pthread_mutex_lock(&l->lock);
    if (l->handle && --l->refs == 0) {
        clear(l);
        dlclose(l->handle);
        l->handle = NULL;
    }
    pthread_mutex_unlock(&l->lock);
}

int vg_dlib_is_open(struct vg_dlib *l)
{
    int open;
    pthread_mutex_lock(&l->lock);
    open = l->handle != NULL;
    pthread_mutex_unlock(&l->lock);
    return open;
}
