/*
 * seccomp probe for runtime/seccomp.test.ts: makes the syscalls Docker's default seccomp profile
 * decides on, with the arguments its rules look at, and prints one line per case:
 * "<case> ok" or "<case> <errno name>" (e.g. "unshare_user EPERM").
 *
 * Every case runs in a forked child, so a call that succeeds (a mount, a personality change,
 * PTRACE_TRACEME) cannot affect the next one. Arguments are chosen so that, where the filter lets
 * a call through, the kernel either does something harmless or refuses it with an errno other
 * than EPERM (a bad magic number, an invalid clock id, a missing path), which tells "the filter
 * said no" from "the kernel said no".
 *
 * It refuses to run unless it is a container's init (pid 1): even harmless calls are not meant
 * for the host.
 *
 * Built statically at test time: cc -static -O1 -o probe probe.c
 * Usage: probe [case...]   (no arguments: every case)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Each returns 0 on success or the errno of the failed call. */
static long result(long r) { return r < 0 ? errno : 0; }

/* clone(2) as the raw syscall (x86_64 order: flags, stack, parent_tid, child_tid, tls). */
static long raw_clone(unsigned long flags) {
  long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) _exit(0);
  if (pid < 0) return errno;
  waitpid((pid_t)pid, NULL, 0);
  return 0;
}

static long unshare_user(void) { return result(unshare(CLONE_NEWUSER)); }
static long unshare_mount(void) { return result(unshare(CLONE_NEWNS)); }
static long unshare_uts(void) { return result(unshare(CLONE_NEWUTS)); }
static long clone_fork(void) { return raw_clone(0); }
static long clone_newuser(void) { return raw_clone(CLONE_NEWUSER); }
static long clone_newns(void) { return raw_clone(CLONE_NEWNS); }
static long clone_newpid(void) { return raw_clone(CLONE_NEWPID); }
/* size 0 is invalid: the kernel answers EINVAL, moby's rule for clone3 ENOSYS (so libc falls back to clone) */
static long clone3_call(void) { return result(syscall(SYS_clone3, NULL, 0)); }
static long setns_call(void) { return result(setns(-1, 0)); }
/* KEYCTL_GET_KEYRING_ID (0) of KEY_SPEC_SESSION_KEYRING (-3) */
static long keyctl_call(void) { return result(syscall(SYS_keyctl, 0, -3, 0)); }
/* a "user" key into KEY_SPEC_PROCESS_KEYRING (-2): this process's own keyring */
static long add_key_call(void) { return result(syscall(SYS_add_key, "user", "tsbuild-probe", "x", 1, -2)); }
static long request_key_call(void) { return result(syscall(SYS_request_key, "user", "tsbuild-probe-absent", NULL, 0)); }
static long process_vm_readv_self(void) {
  char from[8] = "tsbuild", to[8];
  struct iovec local = {to, sizeof to}, remote = {from, sizeof from};
  return result(process_vm_readv(getpid(), &local, 1, &remote, 1, 0));
}
static long ptrace_traceme(void) { return result(ptrace(PTRACE_TRACEME, 0, NULL, NULL)); }
static long kcmp_call(void) { return result(syscall(SYS_kcmp, getpid(), getpid(), 0 /* KCMP_FILE */, 0, 0)); }
static long pidfd_getfd_call(void) { return result(syscall(SYS_pidfd_getfd, -1, 0, 0)); }
/* a missing mount point: the kernel answers ENOENT (before any capability check), the filter EPERM */
static long mount_tmpfs(void) { return result(mount("tmpfs", "/tsbuild-probe-absent", "tmpfs", 0, NULL)); }
static long umount2_call(void) { return result(umount2("/tsbuild-probe-absent", 0)); }
static long personality_query(void) { return result(personality(0xffffffff)); }
static long personality_linux32(void) { return result(personality(PER_LINUX32)); }
static long personality_exec(void) { return result(personality(READ_IMPLIES_EXEC)); }
static long socket_family(int family) {
  int fd = socket(family, SOCK_STREAM, 0);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}
static long socket_unix(void) { return socket_family(AF_UNIX); }
static long socket_alg(void) { return socket_family(38 /* AF_ALG */); }
static long socket_vsock(void) { return socket_family(40 /* AF_VSOCK */); }
static long chmod_call(void) { return result(chmod("/dev/null", 0666)); }
static long chroot_call(void) { return result(chroot("/")); }
static long bpf_call(void) { return result(syscall(SYS_bpf, -1, NULL, 0)); }
static long perf_event_open_call(void) { return result(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0)); }
static long userfaultfd_call(void) {
  long fd = syscall(SYS_userfaultfd, 0);
  if (fd < 0) return errno;
  close((int)fd);
  return 0;
}
static long get_mempolicy_call(void) { return result(syscall(SYS_get_mempolicy, NULL, NULL, 0, NULL, 0)); }
static long open_by_handle_at_call(void) { return result(syscall(SYS_open_by_handle_at, -1, NULL, 0)); }
/* a bad magic number: the kernel says EINVAL (or EPERM without CAP_SYS_BOOT), never reboots */
static long reboot_call(void) { return result(syscall(SYS_reboot, 0, 0, 0, NULL)); }
static long init_module_call(void) { return result(syscall(SYS_init_module, NULL, 0, "")); }
static long clock_settime_call(void) {
  struct timespec t = {0, 0};
  return result(clock_settime(-1, &t)); /* no such clock: EINVAL from the kernel */
}
static long io_uring_setup_call(void) { return result(syscall(SYS_io_uring_setup, 0, NULL)); }

static const struct {
  const char *name;
  long (*run)(void);
} CASES[] = {
    {"unshare_user", unshare_user},
    {"unshare_mount", unshare_mount},
    {"unshare_uts", unshare_uts},
    {"clone_fork", clone_fork},
    {"clone_newuser", clone_newuser},
    {"clone_newns", clone_newns},
    {"clone_newpid", clone_newpid},
    {"clone3", clone3_call},
    {"setns", setns_call},
    {"keyctl", keyctl_call},
    {"add_key", add_key_call},
    {"request_key", request_key_call},
    {"process_vm_readv_self", process_vm_readv_self},
    {"ptrace_traceme", ptrace_traceme},
    {"kcmp", kcmp_call},
    {"pidfd_getfd", pidfd_getfd_call},
    {"mount_tmpfs", mount_tmpfs},
    {"umount2", umount2_call},
    {"personality_query", personality_query},
    {"personality_linux32", personality_linux32},
    {"personality_read_implies_exec", personality_exec},
    {"socket_unix", socket_unix},
    {"socket_alg", socket_alg},
    {"socket_vsock", socket_vsock},
    {"chmod", chmod_call},
    {"chroot", chroot_call},
    {"bpf", bpf_call},
    {"perf_event_open", perf_event_open_call},
    {"userfaultfd", userfaultfd_call},
    {"get_mempolicy", get_mempolicy_call},
    {"open_by_handle_at", open_by_handle_at_call},
    {"reboot", reboot_call},
    {"init_module", init_module_call},
    {"clock_settime", clock_settime_call},
    {"io_uring_setup", io_uring_setup_call},
};

static void run_case(int i) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) _exit((int)CASES[i].run());
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0) {
    printf("%s probe-error %s\n", CASES[i].name, strerrorname_np(errno));
  } else if (WIFSIGNALED(status)) {
    printf("%s killed-by-signal-%d\n", CASES[i].name, WTERMSIG(status));
  } else if (WEXITSTATUS(status) == 0) {
    printf("%s ok\n", CASES[i].name);
  } else {
    const char *name = strerrorname_np(WEXITSTATUS(status));
    printf("%s %s\n", CASES[i].name, name ? name : "unknown-errno");
  }
}

int main(int argc, char **argv) {
  int n = (int)(sizeof CASES / sizeof CASES[0]);
  if (getpid() != 1) {
    fprintf(stderr, "probe: not pid 1; run it as a container's init, never on the host\n");
    return 2;
  }
  for (int i = 0; i < n; i++) {
    int wanted = argc < 2;
    for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], CASES[i].name) == 0;
    if (wanted) run_case(i);
  }
  for (int a = 1; a < argc; a++) {
    int known = 0;
    for (int i = 0; i < n; i++) known |= strcmp(argv[a], CASES[i].name) == 0;
    if (!known) {
      fprintf(stderr, "unknown case %s\n", argv[a]);
      return 2;
    }
  }
  return 0;
}
