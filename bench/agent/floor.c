/*
 * The floor under any fanotify agent: the kernel work `mamori agent` asks for, with no policy.
 *
 *   floor MODE MOUNT...      (root)
 *
 * It sets up the same two groups with the same flags and marks as the agent (a permission group
 * with mount marks for FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM | FAN_CLOSE_WRITE, and a name-reporting
 * group with filesystem marks for FAN_CREATE | FAN_RENAME | FAN_DELETE | FAN_ATTRIB) and, on one
 * thread, answers every permission event with FAN_ALLOW at once. MODE adds what an agent must do
 * on top:
 *
 *   answer   answer and close; name events are read and dropped;
 *   cache    also an evictable ignore mark on every allowed file, the kernel cache the agent uses
 *            for files it knows to be public (so later opens of the same file skip the listener);
 *   read     also read each file closed after writing through the event's fd, once, into a
 *            buffer: the least "recompute the level after close-write" can cost;
 *   survive  like cache, but the ignore marks survive writes (FAN_MARK_IGNORED_SURV_MODIFY): a
 *            file created and then read costs one round trip, not two (an agent doing this
 *            would let a file's reader through unchecked after its content changed);
 *   notify   no permission events at all: the same events as notifications (FAN_OPEN,
 *            FAN_OPEN_EXEC, FAN_CLOSE_WRITE), read in batches; audit only, nothing can be
 *            refused;
 *   names    the least any complete audit can cost: one name-reporting group with every audited
 *            event (opens, close-writes, creates, renames, deletes, attribute changes), no
 *            file descriptors opened for the listener, no permission events.
 *
 * No decision, no journal, no /proc reads: what it costs is what fanotify itself costs the
 * workload on this machine. Prints "listening" on stderr once the marks are in place; stops on
 * SIGTERM or SIGINT. Used by bench/agent/run.sh with FLOOR=1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef FAN_MARK_EVICTABLE
#define FAN_MARK_EVICTABLE 0x00000200
#endif
#ifndef FAN_MARK_IGNORE
#define FAN_MARK_IGNORE 0x00000400
#endif
#ifndef FAN_RENAME
#define FAN_RENAME 0x10000000
#endif
#ifndef FAN_REPORT_DFID_NAME_TARGET
#define FAN_REPORT_DFID_NAME_TARGET (0x00000c00 | 0x00001000)
#endif

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static char buf[256 * 1024];
static char data[1 << 20];

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: floor answer|cache|read|survive|notify|names MOUNT...\n");
        return 2;
    }
    int survive = strcmp(argv[1], "survive") == 0;
    int cache = strcmp(argv[1], "cache") == 0 || strcmp(argv[1], "read") == 0 || survive;
    int readback = strcmp(argv[1], "read") == 0;
    int notify_only = strcmp(argv[1], "notify") == 0;
    int names_only = strcmp(argv[1], "names") == 0;
    unsigned long long name_mask = FAN_CREATE | FAN_RENAME | FAN_DELETE | FAN_ATTRIB;
    if (names_only) name_mask |= FAN_OPEN | FAN_OPEN_EXEC | FAN_CLOSE_WRITE;
    unsigned long long perm_mask =
        notify_only ? FAN_OPEN | FAN_OPEN_EXEC | FAN_CLOSE_WRITE
                    : FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM | FAN_CLOSE_WRITE;
    int perm = fanotify_init((notify_only ? FAN_CLASS_NOTIF : FAN_CLASS_CONTENT) | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE |
                                 FAN_UNLIMITED_MARKS,
                             O_RDONLY | O_LARGEFILE | O_CLOEXEC);
    int notif = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE |
                                  FAN_UNLIMITED_MARKS | FAN_REPORT_DFID_NAME_TARGET,
                              O_RDONLY | O_CLOEXEC);
    if (perm < 0 || notif < 0) {
        perror("fanotify_init");
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        if ((!names_only &&
             fanotify_mark(perm, FAN_MARK_ADD | FAN_MARK_MOUNT, perm_mask, AT_FDCWD, argv[i]) < 0) ||
            fanotify_mark(notif, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, name_mask, AT_FDCWD,
                          argv[i]) < 0) {
            fprintf(stderr, "fanotify_mark %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    fprintf(stderr, "listening\n");
    struct pollfd fds[2] = {{.fd = perm, .events = POLLIN}, {.fd = notif, .events = POLLIN}};
    unsigned long answered = 0, closes = 0, names = 0;
    while (!stop) {
        if (poll(fds, 2, 200) < 0) {
            if (errno == EINTR) continue;
            perror("poll");
            return 1;
        }
        if (fds[1].revents & POLLIN) {
            ssize_t n;
            while ((n = read(notif, buf, sizeof buf)) > 0) {
                for (struct fanotify_event_metadata *m = (void *)buf; FAN_EVENT_OK(m, n);
                     m = FAN_EVENT_NEXT(m, n))
                    names++;
            }
        }
        if (!(fds[0].revents & POLLIN)) continue;
        ssize_t n;
        while ((n = read(perm, buf, sizeof buf)) > 0) {
            for (struct fanotify_event_metadata *m = (void *)buf; FAN_EVENT_OK(m, n);
                 m = FAN_EVENT_NEXT(m, n)) {
                if (m->fd < 0) continue;
                if (m->mask & (FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM)) {
                    struct fanotify_response r = {.fd = m->fd, .response = FAN_ALLOW};
                    struct stat st;
                    /* Like the agent: the ignore mark before the answer, so that a write after
                       the answer clears it. Files only, opens only. */
                    if (cache && (m->mask & FAN_OPEN_PERM) && fstat(m->fd, &st) == 0 &&
                        S_ISREG(st.st_mode))
                        fanotify_mark(perm,
                                      FAN_MARK_ADD | FAN_MARK_INODE | FAN_MARK_IGNORE |
                                          FAN_MARK_EVICTABLE |
                                          (survive ? FAN_MARK_IGNORED_SURV_MODIFY : 0),
                                      FAN_OPEN_PERM, m->fd, NULL);
                    if (write(perm, &r, sizeof r) != sizeof r) perror("answer");
                    answered++;
                } else if (m->mask & (FAN_OPEN | FAN_OPEN_EXEC)) {
                    answered++;
                } else if ((m->mask & FAN_CLOSE_WRITE) && readback) {
                    off_t at = 0;
                    ssize_t got;
                    while ((got = pread(m->fd, data, sizeof data, at)) > 0) at += got;
                    closes++;
                } else {
                    closes++;
                }
                close(m->fd);
            }
        }
    }
    fprintf(stderr, "answered %lu, close-writes %lu, name events %lu\n", answered, closes, names);
    return 0;
}
