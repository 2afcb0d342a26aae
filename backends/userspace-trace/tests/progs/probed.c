/* Functions to probe, called in different ways chosen by argv[1]:
 *   args N        add(i, 2*i) for i < N
 *   libc N        getpid() N times
 *   recurse D     fact(D), recursively
 *   threads T N   T threads, thread t calls add(t*100000 + i, t) for i < N
 *   fork          forker() forks inside a probed function; both return
 *   sigtrap       raise(SIGTRAP) and int3 with a handler, then add(5, 6)
 *   loop          add(i, 1) every millisecond, prints "tick I" every 50 calls
 *   churn         rounds of 4 short-lived threads calling add, until stdin
 *                 reaches its end
 *   reexec        add(1, 2), then execs itself again, until stdin ends
 * Exits 0 when all went as it should. */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROBED __attribute__((noinline, noclone, used))

PROBED long add(long a, long b) {
    __asm__ volatile("" ::: "memory");
    return a + b;
}

PROBED long fact(long n) {
    __asm__ volatile("" ::: "memory");
    return n <= 1 ? 1 : n * fact(n - 1);
}

PROBED long forker(void) {
    __asm__ volatile("" ::: "memory");
    return (long)fork();
}

static long calls_per_thread;

static void *thread_main(void *arg) {
    long t = (long)arg;
    for (long i = 0; i < calls_per_thread; i++)
        if (add(t * 100000 + i, t) != t * 100000 + i + t)
            exit(3);
    return NULL;
}

static volatile sig_atomic_t traps;
static void on_trap(int sig) { (void)sig; traps++; }

static int run_threads(long n_threads, long n) {
    pthread_t t[64];
    calls_per_thread = n;
    if (n_threads > 64)
        return 2;
    for (long i = 0; i < n_threads; i++)
        if (pthread_create(&t[i], NULL, thread_main, (void *)i) != 0)
            return 2;
    for (long i = 0; i < n_threads; i++)
        pthread_join(t[i], NULL);
    return 0;
}

static volatile int stdin_ended;

static void *watch_stdin(void *arg) {
    char buf[64];
    (void)arg;
    while (read(0, buf, sizeof buf) > 0)
        ;
    stdin_ended = 1;
    return NULL;
}

/* Threads start and end all the time: some start while a tracer seizes
 * the others, and some are inside add when tracing stops. */
static int run_churn(void) {
    pthread_t watcher;
    calls_per_thread = 1000;
    if (pthread_create(&watcher, NULL, watch_stdin, NULL) != 0)
        return 2;
    while (!stdin_ended) {
        pthread_t t[4];
        for (long i = 0; i < 4; i++)
            if (pthread_create(&t[i], NULL, thread_main, (void *)i) != 0)
                return 2;
        for (long i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
    }
    pthread_join(watcher, NULL);
    return 0;
}

static int run_fork(void) {
    add(1, 2);
    long pid = forker();
    if (pid == 0) {
        add(3, 4);
        _exit(0);
    }
    int status = 0;
    if (pid < 0 || waitpid((pid_t)pid, &status, 0) != pid)
        return 2;
    add(5, 6);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static int run_sigtrap(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_trap;
    sigaction(SIGTRAP, &sa, NULL);
    raise(SIGTRAP);
    int want = 1;
#if defined(__x86_64__)
    __asm__ volatile("int3");
    want = 2;
#endif
    add(5, 6);
    return traps == want ? 0 : 1;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "args";
    long n = argc > 2 ? atol(argv[2]) : 10;
    if (!strcmp(mode, "args")) {
        for (long i = 0; i < n; i++)
            if (add(i, 2 * i) != 3 * i)
                return 1;
        return 0;
    }
    if (!strcmp(mode, "libc")) {
        for (long i = 0; i < n; i++)
            getpid();
        return 0;
    }
    if (!strcmp(mode, "recurse"))
        return fact(n) > 0 ? 0 : 1;
    if (!strcmp(mode, "threads"))
        return run_threads(n, argc > 3 ? atol(argv[3]) : 100);
    if (!strcmp(mode, "reexec")) {
        struct pollfd in = {.fd = 0, .events = POLLIN};
        char byte;
        if (add(1, 2) != 3)
            return 1;
        if (poll(&in, 1, 0) > 0 && read(0, &byte, 1) <= 0)
            return 0;
        execv("/proc/self/exe", argv);
        return 2;
    }
    if (!strcmp(mode, "churn"))
        return run_churn();
    if (!strcmp(mode, "fork"))
        return run_fork();
    if (!strcmp(mode, "sigtrap"))
        return run_sigtrap();
    if (!strcmp(mode, "loop")) {
        for (long i = 0;; i++) {
            if (add(i, 1) != i + 1)
                return 1;
            if (i % 50 == 0) {
                printf("tick %ld\n", i);
                fflush(stdout);
            }
            usleep(1000);
        }
    }
    return 2;
}
