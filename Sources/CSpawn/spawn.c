// fork + execve for the agent's `exec` requests, and for every child process the master and
// the tests start (Sources/Spawn: Foundation's Process.run over-reads a dirent on Linux and
// crashes now and then, swift-corelibs-foundation#5472).
//
// Why not posix_spawn: it can put the child in its own process group
// (POSIX_SPAWN_SETPGROUP) and, with glibc, in its own session, but it cannot drop to another
// user (setgroups/setgid/setuid) or close every inherited descriptor; the agent would have
// to run a helper binary for that. A fork in C, doing only async-signal-safe calls between
// fork and exec, covers all of it in one small function.
#define _GNU_SOURCE
#include "CSpawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

/// The child's report of what failed, written to the status pipe (close-on-exec, so a
/// successful exec closes it and the parent reads end of file).
struct child_failure {
    int error;
    int stage;
};

static const char *const stages[] = {
    "fork", "setsid", "dup2", "chdir", "setgroups", "setgid", "setuid", "execve", "sigaction",
};
enum { STAGE_FORK, STAGE_SETSID, STAGE_DUP2, STAGE_CHDIR, STAGE_SETGROUPS, STAGE_SETGID, STAGE_SETUID, STAGE_EXECVE, STAGE_SIGACTION };

static void write_all(int fd, const void *bytes, size_t count) {
    const char *cursor = bytes;
    while (count > 0) {
        ssize_t written = write(fd, cursor, count);
        if (written < 0) {
            if (errno == EINTR) continue;
            return;
        }
        cursor += written;
        count -= (size_t)written;
    }
}

static void fail(int status_fd, int stage) {
    struct child_failure failure = { errno, stage };
    write_all(status_fd, &failure, sizeof failure);
    _exit(127);
}

/// Closes every descriptor from `first` up (the kernel call when there is one, else a loop
/// up to the limit, which was read before the fork).
static void close_from(int first, int limit) {
#if defined(__linux__) && defined(SYS_close_range)
    if (syscall(SYS_close_range, (unsigned)first, ~0U, 0) == 0) return;
#endif
    for (int fd = first; fd < limit; fd++) close(fd);
}

int fleet_spawn(const fleet_spawn_request *request, pid_t *pid, const char **stage) {
    int status_pipe[2];
    *stage = stages[STAGE_FORK];
#if defined(__linux__)
    if (pipe2(status_pipe, O_CLOEXEC) != 0) return errno;
#else
    if (pipe(status_pipe) != 0) return errno;
    fcntl(status_pipe[0], F_SETFD, FD_CLOEXEC);
    fcntl(status_pipe[1], F_SETFD, FD_CLOEXEC);
#endif
    struct rlimit files;
    int limit = getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY && files.rlim_cur < 1048576
        ? (int)files.rlim_cur : 65536;

    pid_t child = fork();
    if (child < 0) {
        int error = errno;
        close(status_pipe[0]);
        close(status_pipe[1]);
        return error;
    }
    if (child == 0) {
        // The child: async-signal-safe calls only from here to execve.
        int status_fd = status_pipe[1];
        close(status_pipe[0]);

        // Signals: default dispositions (the agent ignores SIGPIPE, and an ignored signal
        // stays ignored across exec) and an empty mask (the agent's threads block some).
        struct sigaction defaults;
        memset(&defaults, 0, sizeof defaults);
        defaults.sa_handler = SIG_DFL;
        sigemptyset(&defaults.sa_mask);
        for (int signal_number = 1; signal_number < NSIG; signal_number++) {
            if (signal_number == SIGKILL || signal_number == SIGSTOP) continue;
            sigaction(signal_number, &defaults, NULL);  // EINVAL for the realtime ones libc reserves: fine
        }
        sigset_t empty;
        sigemptyset(&empty);
        if (sigprocmask(SIG_SETMASK, &empty, NULL) != 0) fail(status_fd, STAGE_SIGACTION);

        // Its own session, hence its own process group (pgid = pid): the agent kills the
        // whole group at the timeout, grandchildren included, and no terminal is inherited.
        if (setsid() < 0) fail(status_fd, STAGE_SETSID);

        // Move every descriptor we keep above 2 first, so dup2 onto 0..2 cannot clobber
        // one that happens to sit there, then put the status pipe at 3 and close the rest.
        int in = fcntl(request->stdin_fd, F_DUPFD_CLOEXEC, 10);
        int out = fcntl(request->stdout_fd, F_DUPFD_CLOEXEC, 10);
        int err = fcntl(request->stderr_fd, F_DUPFD_CLOEXEC, 10);
        int status = fcntl(status_fd, F_DUPFD_CLOEXEC, 10);
        if (in < 0 || out < 0 || err < 0 || status < 0) fail(status_fd, STAGE_DUP2);
        status_fd = status;
        if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) fail(status_fd, STAGE_DUP2);
        if (dup2(status_fd, 3) < 0) fail(status_fd, STAGE_DUP2);
        status_fd = 3;
        fcntl(status_fd, F_SETFD, FD_CLOEXEC);
        close_from(4, limit);

        if (chdir(request->directory != NULL ? request->directory : "/") != 0) fail(status_fd, STAGE_CHDIR);

        if (request->change_user) {
            // Groups first: once the uid is dropped, the right to change them is gone.
            if (setgroups((size_t)request->group_count, request->groups) != 0) fail(status_fd, STAGE_SETGROUPS);
            if (setgid(request->gid) != 0) fail(status_fd, STAGE_SETGID);
            if (setuid(request->uid) != 0) fail(status_fd, STAGE_SETUID);
            // A uid of 0 could regain root; for any other, being able to do so is a failure.
            if (request->uid != 0 && setuid(0) == 0) {
                errno = EPERM;
                fail(status_fd, STAGE_SETUID);
            }
        }

        execve(request->path, request->argv, request->envp);
        fail(status_fd, STAGE_EXECVE);
    }

    // The parent: end of file on the status pipe means the exec happened.
    close(status_pipe[1]);
    struct child_failure failure;
    ssize_t got;
    do {
        got = read(status_pipe[0], &failure, sizeof failure);
    } while (got < 0 && errno == EINTR);
    close(status_pipe[0]);
    if (got == (ssize_t)sizeof failure) {
        int ignored;
        while (waitpid(child, &ignored, 0) < 0 && errno == EINTR) {}
        *stage = (failure.stage >= 0 && failure.stage < (int)(sizeof stages / sizeof stages[0])) ? stages[failure.stage] : "child";
        return failure.error != 0 ? failure.error : EIO;
    }
    *stage = NULL;
    *pid = child;
    return 0;
}

int fleet_pipe_cloexec(int fds[2]) {
#if defined(__linux__)
    return pipe2(fds, O_CLOEXEC);
#else
    if (pipe(fds) != 0) return -1;
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    return 0;
#endif
}

int fleet_pidfd_open(pid_t pid) {
#if defined(__linux__) && defined(SYS_pidfd_open)
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

int fleet_child_exited(pid_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int rc;
    do {
        rc = waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) return -1;
    return info.si_pid == pid ? 1 : 0;
}
