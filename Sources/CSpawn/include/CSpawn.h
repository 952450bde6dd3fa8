#ifndef FLEET_CSPAWN_H
#define FLEET_CSPAWN_H

#include <sys/types.h>

/// What `fleet_spawn` needs, all prepared before it forks: the child may only make
/// async-signal-safe calls (the agent is multithreaded, and another thread may hold the
/// malloc lock at the moment of the fork), so nothing here is looked up or allocated after it.
typedef struct fleet_spawn_request {
    /// Absolute path executed with execve: never a PATH search.
    const char *path;
    /// NULL-terminated argument vector (argv[0] included).
    char *const *argv;
    /// NULL-terminated environment, the child's whole environment.
    char *const *envp;
    /// Become stdin, stdout and stderr of the child (dup2'd onto 0, 1, 2).
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
    /// Non-zero: setgroups(groups) + setgid(gid) + setuid(uid) before exec (run-as user).
    int change_user;
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    int group_count;
    /// The child's working directory; NULL means `/` (what the agent's commands get).
    const char *directory;
} fleet_spawn_request;

/// Forks and execs `request->path` in a new session (so a new process group whose id is
/// the child's pid), with cwd `request->directory` (or `/`), default signal dispositions, an empty signal mask, the
/// given stdio and every other descriptor closed.
///
/// Returns 0 and sets `*pid` once the exec succeeded; otherwise returns an errno value and
/// sets `*stage` to what failed ("fork", "setsid", "dup2", "chdir", "setgroups", "setgid",
/// "setuid", "execve"); the failed child, if any, has been reaped.
int fleet_spawn(const fleet_spawn_request *request, pid_t *pid, const char **stage);

/// pipe(2) with both ends close-on-exec, so no other child the agent starts (or its own
/// re-exec on restart) inherits them and holds a command's output open.
int fleet_pipe_cloexec(int fds[2]);

/// A descriptor that becomes readable when `pid` exits (Linux pidfd_open), or -1 where the
/// kernel has none; the caller then polls with a short tick instead.
int fleet_pidfd_open(pid_t pid);

/// 1 if the child `pid` has exited, 0 if not, -1 on error. It is left unreaped (a zombie), so
/// its pid, which is also its process group's id, cannot be reused before the agent has
/// signalled the rest of the group.
int fleet_child_exited(pid_t pid);

#endif
