/*
 * execstorm: fork+exec as fast as the machine allows, for the process
 * telemetry storm test and benchmark.
 *
 *   execstorm COUNT PARALLEL PROGRAM [ARG...]
 *
 * Runs PROGRAM COUNT times, PARALLEL at a time (posix_spawn, no shell),
 * and prints "execs N seconds S rate R/s failed F".  With EXECSTORM_RATE
 * set (execs per second), it paces itself to that rate instead.
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
    long count, par, started = 0, running = 0, failed = 0;
    struct timespec t0, t1;
    double secs, rate;

    if (argc < 4) {
        fprintf(stderr, "usage: execstorm COUNT PARALLEL PROGRAM [ARG...]\n");
        return 2;
    }
    count = strtol(argv[1], NULL, 10);
    par = strtol(argv[2], NULL, 10);
    if (count <= 0 || par <= 0) {
        fprintf(stderr, "execstorm: COUNT and PARALLEL must be positive\n");
        return 2;
    }
    {
        const char *r = getenv("EXECSTORM_RATE");
        rate = r ? strtod(r, NULL) : 0;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (started < count || running > 0) {
        while (started < count && running < par) {
            pid_t pid;
            if (rate > 0) {
                /* Not before its slot: started / rate seconds after t0. */
                struct timespec now;
                double due = (double)started / rate, at;
                clock_gettime(CLOCK_MONOTONIC, &now);
                at = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
                if (at < due) {
                    struct timespec d = { (time_t)(due - at),
                                          (long)((due - at - (double)(time_t)(due - at)) * 1e9) };
                    nanosleep(&d, NULL);
                }
            }
            int rc = posix_spawn(&pid, argv[3], NULL, NULL, argv + 3, environ);
            if (rc) {
                failed++;
                started++;
                continue;
            }
            started++;
            running++;
        }
        if (running > 0) {
            int st;
            if (wait(&st) > 0) {
                running--;
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                    failed++;
            } else if (errno == ECHILD) {
                running = 0;
            }
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("execs %ld seconds %.3f rate %.0f/s failed %ld\n", count, secs, (double)count / secs,
           failed);
    return failed ? 1 : 0;
}
