// Shows what the WASI layer grants: environment, preopened directories and
// escapes from them. Prints one "name=value" line per check; errno values are
// WASI numbers.
//   wasi_io            (expects no grants)
//   wasi_io --granted  (expects --env GREETING=... and --dir HOST:/data)
//   wasi_io --granted --fs  (also lists, makes, renames and removes in
//                            /data, and tries the ways out Windows has)
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wasi/api.h>

extern char **environ;

/* path_open straight to the host, bypassing wasi-libc's own preopen lookup,
 * so the host's answer is what gets printed. */
static int raw_open(int dirfd, const char *path, __wasi_lookupflags_t lookup)
{
	__wasi_fd_t fd;
	__wasi_errno_t err = __wasi_path_open(dirfd, lookup, path, 0, __WASI_RIGHTS_FD_READ, __WASI_RIGHTS_FD_READ, 0, &fd);
	if (err == 0)
		(void)!__wasi_fd_close(fd);
	return err;
}

/* Names in /data, sorted, comma-separated (readdir's order is the host's). */
static void list(void)
{
	char names[32][64];
	int n = 0;
	DIR *d = opendir("/data");
	if (!d) {
		printf("list_errno=%d\n", errno);
		return;
	}
	for (struct dirent *e; (e = readdir(d)) && n < 32;) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(names[n++], sizeof(names[0]), "%s", e->d_name);
	}
	closedir(d);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (strcmp(names[i], names[j]) > 0) {
				char t[64];
				memcpy(t, names[i], sizeof(t));
				memcpy(names[i], names[j], sizeof(t));
				memcpy(names[j], t, sizeof(t));
			}
	printf("list=");
	for (int i = 0; i < n; i++)
		printf("%s%s", i ? "," : "", names[i]);
	printf("\n");
}

/* Each step prints 0 or the errno it met. */
static void files(void)
{
	printf("mkdir=%d\n", mkdir("/data/sub", 0755) ? errno : 0);
	FILE *f = fopen("/data/sub/made.txt", "w");
	printf("create=%d\n", f ? 0 : errno);
	if (f) {
		fputs("made in sub\n", f);
		fclose(f);
	}
	printf("rename=%d\n", rename("/data/sub/made.txt", "/data/sub/moved.txt") ? errno : 0);
	f = fopen("/data/sub/moved.txt", "r");
	char line[64] = {0};
	if (f) {
		if (fgets(line, sizeof(line), f))
			line[strcspn(line, "\n")] = 0;
		fclose(f);
	}
	printf("read_moved=%s\n", line);
	list();
	printf("unlink=%d\n", unlink("/data/sub/moved.txt") ? errno : 0);
	printf("rmdir=%d\n", rmdir("/data/sub") ? errno : 0);
	printf("unlink_missing=%d\n", unlink("/data/nothing.txt") ? errno : 0);
	/* Ways out as Windows reads paths; the host's answer is printed. */
	printf("raw_open_backslash=%d\n", raw_open(3, "..\\escape.txt", 0));
	printf("raw_open_drive=%d\n", raw_open(3, "C:\\windows\\win.ini", 0));
	printf("raw_open_drive_relative=%d\n", raw_open(3, "C:escape.txt", 0));
	printf("raw_open_stream=%d\n", raw_open(3, "in.txt:hidden", 0));
	printf("raw_open_device=%d\n", raw_open(3, "NUL", 0));
}

int main(int argc, char **argv)
{
	int granted = argc > 1 && !strcmp(argv[1], "--granted");
	int n = 0;
	for (char **e = environ; *e; e++)
		n++;
	printf("env_count=%d\n", n);
	const char *greeting = getenv("GREETING");
	printf("env_greeting=%s\n", greeting ? greeting : "(unset)");

	__wasi_prestat_t prestat;
	__wasi_errno_t err = __wasi_fd_prestat_get(3, &prestat);
	printf("preopen_3=%d\n", err);
	if (err == 0) {
		char name[64] = {0};
		if (prestat.u.dir.pr_name_len < sizeof(name))
			(void)!__wasi_fd_prestat_dir_name(3, (uint8_t *)name, prestat.u.dir.pr_name_len);
		printf("preopen_3_name=%s\n", name);
	}
	const __wasi_lookupflags_t follow = __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW;
	printf("raw_open_in=%d\n", raw_open(3, "in.txt", 0));
	printf("raw_open_escape=%d\n", raw_open(3, "../escape.txt", 0));
	printf("raw_open_absolute=%d\n", raw_open(3, "/etc/passwd", 0));
	printf("raw_open_symlink_in=%d\n", raw_open(3, "link-in", follow));
	printf("raw_open_symlink_out=%d\n", raw_open(3, "link-out", follow));

	FILE *in = fopen("/data/in.txt", "r");
	if (in) {
		char line[128] = {0};
		if (fgets(line, sizeof(line), in))
			line[strcspn(line, "\n")] = 0;
		printf("read_in=%s\n", line);
		fclose(in);
	} else {
		printf("read_in_errno=%d\n", errno);
	}
	if (granted) {
		FILE *out = fopen("/data/out.txt", "w");
		if (out) {
			fprintf(out, "written by the guest\n");
			printf("write_out=%d\n", fclose(out));
		} else {
			printf("write_out_errno=%d\n", errno);
		}
	}
	if (granted && argc > 2 && !strcmp(argv[2], "--fs"))
		files();
	return 0;
}
