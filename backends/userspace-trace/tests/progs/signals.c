/* Installs a SIGUSR1 handler, signals itself and checks that the handler
 * ran: exits 0 if it did, 1 if not. */
#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void on_usr1(int sig) { got = sig; }

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    kill(getpid(), SIGUSR1);
    for (int i = 0; i < 100 && !got; i++)
        usleep(1000);
    return got == SIGUSR1 ? 0 : 1;
}
