/* Four threads, each opening a path of its own (which need not exist). */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void *run(void *arg) {
    char path[64];
    snprintf(path, sizeof path, "/nonexistent/unibpf-trace-thread-%ld", (long)arg);
    int fd = open(path, O_RDONLY);
    if (fd >= 0)
        close(fd);
    return NULL;
}

int main(void) {
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        if (pthread_create(&t[i], NULL, run, (void *)i) != 0)
            return 1;
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    return 0;
}
