/* open()+close() latency: N iterations on one file, prints p50 and p99 in microseconds. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: openlat FILE N\n"); return 2; }
    long n = atol(argv[2]);
    long *ns = malloc(sizeof(long) * n);
    for (long i = 0; i < n; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        int fd = open(argv[1], O_RDONLY);
        if (fd < 0) { perror("open"); return 1; }
        close(fd);
        clock_gettime(CLOCK_MONOTONIC, &b);
        ns[i] = (b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec);
    }
    qsort(ns, n, sizeof(long), cmp);
    printf("%.2f %.2f\n", ns[n / 2] / 1000.0, ns[n * 99 / 100] / 1000.0);
    return 0;
}
