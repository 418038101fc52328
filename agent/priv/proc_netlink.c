/*
 * The netlink process connector (NETLINK_CONNECTOR, CN_IDX_PROC): the
 * kernel tells of every exec and exit with pids only; the rest is read
 * from /proc at once, and marked unknown when the process is already
 * gone (short-lived processes often are).  The connector works only in
 * the initial network namespace and needs CAP_NET_ADMIN.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>

#include "log.h"
#include "proc.h"

struct proc_netlink {
    int fd;
    uv_poll_t poll;
    struct proc_sink sink;
    uint64_t drops;
    void (*done)(void *arg);
    void *done_arg;
};

static int subscribe(int fd, int on)
{
    /* nlmsghdr, then cn_msg, then the operation (cn_msg ends in a flexible
     * array, so the message is laid out by hand). */
    char buf[NLMSG_SPACE(sizeof(struct cn_msg) + sizeof(enum proc_cn_mcast_op))]
        __attribute__((aligned(NLMSG_ALIGNTO)));
    struct nlmsghdr *nl = (struct nlmsghdr *)buf;
    struct cn_msg *cn;
    enum proc_cn_mcast_op op = on ? PROC_CN_MCAST_LISTEN : PROC_CN_MCAST_IGNORE;

    memset(buf, 0, sizeof(buf));
    nl->nlmsg_len = NLMSG_LENGTH(sizeof(*cn) + sizeof(op));
    nl->nlmsg_type = NLMSG_DONE;
    nl->nlmsg_pid = 0;
    cn = NLMSG_DATA(nl);
    cn->id.idx = CN_IDX_PROC;
    cn->id.val = CN_VAL_PROC;
    cn->len = sizeof(op);
    memcpy(cn->data, &op, sizeof(op));
    return send(fd, buf, nl->nlmsg_len, 0) == (ssize_t)nl->nlmsg_len ? 0 : -errno;
}

static void on_exec_pid(struct proc_netlink *n, uint32_t pid)
{
    struct proc_info info;
    struct proc_exec e;
    memset(&e, 0, sizeof(e));
    e.pid = pid;
    if (proc_read("", pid, &info) == 0) {
        proc_exec_from_info(&e, &info);
        n->sink.exec(n->sink.ctx, &e);
        proc_info_free(&info);
    } else {
        /* Gone already: only the pid is known. */
        e.path = "";
        e.argv = "";
        e.unknown = PROC_UNKNOWN_ARGV | PROC_UNKNOWN_EXE | PROC_UNKNOWN_CREDS |
                    PROC_UNKNOWN_LOGIN | PROC_UNKNOWN_PPID | PROC_UNKNOWN_START |
                    PROC_UNKNOWN_COMM | PROC_UNKNOWN_CGROUP;
        n->sink.exec(n->sink.ctx, &e);
    }
}

static void readable(uv_poll_t *h, int status, int events)
{
    struct proc_netlink *n = h->data;
    char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
    (void)events;
    if (status < 0)
        return;
    for (int round = 0; round < 64; round++) {
        ssize_t len = recv(n->fd, buf, sizeof(buf), MSG_DONTWAIT);
        struct nlmsghdr *nh;
        if (len < 0) {
            if (errno == ENOBUFS) {
                n->drops++; /* at least one; the kernel does not say how many */
                continue;
            }
            return;
        }
        for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)len); nh = NLMSG_NEXT(nh, len)) {
            struct cn_msg *cn;
            struct proc_event evbuf, *ev = &evbuf;
            if (nh->nlmsg_type == NLMSG_ERROR || nh->nlmsg_type == NLMSG_NOOP)
                continue;
            if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*cn) + sizeof(*ev)))
                continue;
            cn = NLMSG_DATA(nh);
            if (cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC)
                continue;
            /* The event sits 4-byte aligned in the message: copy it out. */
            memcpy(&evbuf, cn->data, sizeof(evbuf));
            if (ev->what == PROC_EVENT_EXEC) {
                if (ev->event_data.exec.process_pid == ev->event_data.exec.process_tgid)
                    on_exec_pid(n, (uint32_t)ev->event_data.exec.process_tgid);
            } else if (ev->what == PROC_EVENT_EXIT) {
                struct proc_exit x;
                if (ev->event_data.exit.process_pid != ev->event_data.exit.process_tgid)
                    continue; /* a thread */
                memset(&x, 0, sizeof(x));
                x.pid = (uint32_t)ev->event_data.exit.process_tgid;
                x.ppid = (uint32_t)ev->event_data.exit.parent_tgid;
                x.status = ev->event_data.exit.exit_code;
                x.exit_boot_ns = 0;
                x.unknown = PROC_UNKNOWN_START;
                n->sink.exit(n->sink.ctx, &x);
            }
        }
    }
}

int proc_netlink_open(uv_loop_t *loop, const struct proc_sink *sink, struct proc_netlink **out,
                      char *err, size_t errlen)
{
    struct proc_netlink *n = calloc(1, sizeof(*n));
    struct sockaddr_nl sa;
    int rc, rcvbuf = 4 * 1024 * 1024;

    *out = NULL;
    if (!n)
        return -ENOMEM;
    n->sink = *sink;
    n->fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
    if (n->fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "no netlink connector socket: %s", strerror(errno));
        free(n);
        return rc;
    }
    /* Room for bursts; SO_RCVBUFFORCE needs CAP_NET_ADMIN, which the
     * connector needs anyway. */
    if (setsockopt(n->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
        setsockopt(n->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    memset(&sa, 0, sizeof(sa));
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = CN_IDX_PROC;
    sa.nl_pid = 0;
    if (bind(n->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || (rc = subscribe(n->fd, 1)) != 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot subscribe to process events: %s%s", strerror(errno),
                 errno == EPERM ? " (needs CAP_NET_ADMIN, in the initial network namespace)"
                                : "");
        close(n->fd);
        free(n);
        return rc ? rc : -EPERM;
    }
    if ((rc = uv_poll_init(loop, &n->poll, n->fd)) != 0) {
        snprintf(err, errlen, "cannot poll the netlink socket: %s", uv_strerror(rc));
        close(n->fd);
        free(n);
        return rc;
    }
    n->poll.data = n;
    uv_poll_start(&n->poll, UV_READABLE, readable);
    *out = n;
    return 0;
}

uint64_t proc_netlink_drops(struct proc_netlink *n)
{
    return n->drops;
}

static void closed(uv_handle_t *h)
{
    struct proc_netlink *n = h->data;
    void (*done)(void *) = n->done;
    void *arg = n->done_arg;
    subscribe(n->fd, 0);
    close(n->fd);
    free(n);
    if (done)
        done(arg);
}

void proc_netlink_close(struct proc_netlink *n, void (*done)(void *arg), void *arg)
{
    n->done = done;
    n->done_arg = arg;
    uv_close((uv_handle_t *)&n->poll, closed);
}
