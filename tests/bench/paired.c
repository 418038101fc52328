/*
 * paired: whole-process CPU time of two commands, run in turn (A B A B
 * ...) so that a drift in the machine's speed touches both alike.
 *
 *   paired [-n RUNS] [-w WARMUP] CMD_A [ARG...] --vs CMD_B [ARG...]
 *
 * Each run's user + system time comes from wait4()'s rusage (the kernel's
 * accounting of the finished process, children it waited for included),
 * its output goes to /dev/null.  Prints the medians (min-max) of A's and
 * B's CPU and wall time in ms and the median of the per-pair ratios A/B:
 *
 *   A 12.10 ms cpu (11.50-14.00), 12.40 ms wall; B 24.30 ms cpu (...), ...; A/B 0.49 (0.44-0.57)
 *
 * Commands are run without a shell, found in PATH.  Exits 1 if a command
 * could not be run or exited non-zero.
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define RUNS_MAX 1000

static int run(char **argv, double *cpu_ms, double *wall_ms)
{
    posix_spawn_file_actions_t fa;
    struct timespec t0, t1;
    struct rusage ru;
    pid_t pid;
    int st, rc;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) {
        fprintf(stderr, "paired: cannot run %s\n", argv[0]);
        return -1;
    }
    if (wait4(pid, &st, 0, &ru) != pid)
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
              (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    *wall_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "paired: %s exited with status %d\n", argv[0], st);
        return -1;
    }
    return 0;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v. */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    static double ac[RUNS_MAX], aw[RUNS_MAX], bc[RUNS_MAX], bw[RUNS_MAX], r[RUNS_MAX];
    int runs = 21, warm = 2, i = 1, opt;
    char **a, **b = NULL;

    while ((opt = getopt(argc, argv, "+n:w:")) != -1) {
        if (opt == 'n')
            runs = (int)strtol(optarg, NULL, 10);
        else if (opt == 'w')
            warm = (int)strtol(optarg, NULL, 10);
        else
            goto usage;
    }
    i = optind;
    a = argv + i;
    for (; i < argc; i++)
        if (strcmp(argv[i], "--vs") == 0) {
            argv[i] = NULL;
            b = argv + i + 1;
        }
    if (!b || !a[0] || !b[0] || runs < 1 || runs > RUNS_MAX || warm < 0)
        goto usage;
    for (i = -warm; i < runs; i++) {
        double c1, w1, c2, w2;
        if (run(a, &c1, &w1) || run(b, &c2, &w2))
            return 1;
        if (i < 0)
            continue;
        ac[i] = c1;
        aw[i] = w1;
        bc[i] = c2;
        bw[i] = w2;
        r[i] = c2 > 0 ? c1 / c2 : 0;
    }
    {
        double ma = median(ac, runs), mb = median(bc, runs), wa = median(aw, runs),
               wb = median(bw, runs), mr = median(r, runs);
        printf("A %.2f ms cpu (%.2f-%.2f), %.2f ms wall; B %.2f ms cpu (%.2f-%.2f), %.2f ms wall; "
               "A/B %.2f (%.2f-%.2f); medians of %d pairs\n",
               ma, ac[0], ac[runs - 1], wa, mb, bc[0], bc[runs - 1], wb, mr, r[0], r[runs - 1],
               runs);
    }
    return 0;
usage:
    fprintf(stderr, "usage: paired [-n RUNS] [-w WARMUP] CMD [ARG...] --vs CMD [ARG...]\n");
    return 2;
}
