/* Unit tests for vmesh_file_write under attack: key material must never land
 * in a file an attacker planted or can read, whatever they put in the
 * directory beforehand (files and symlinks at the old predictable temp
 * names, at the names we draw, at the target) or do while we write (swap
 * or steal the temp file, as another user in a directory all can write). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/file_int.h"
#include "vmesh/core.h"

#define SECRET "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg-secret-\n"

static char dir[256];

static char *P(const char *name)
{
    static char buf[4][512];
    static int i;

    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
    return buf[i];
}

static void put(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    fchmod(fd, mode);
    close(fd);
}

/* The whole content of path ("" if it cannot be read). */
static const char *slurp(const char *path)
{
    static char buf[4096];
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;

    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

/* No file under dir holds the secret except (when given) `except`. */
static void secret_only_in(const char *except)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || strcmp(e->d_name, "..") == 0))
            continue;
        if (except != NULL && strcmp(e->d_name, except) == 0)
            continue;
        if (lstat(P(e->d_name), &st) == 0 && S_ISREG(st.st_mode) && strstr(slurp(P(e->d_name)), "-secret-"))
            fail_msg("the secret is in %s", e->d_name);
    }
    closedir(d);
}

static size_t entries(void)
{
    DIR *d = opendir(dir);
    size_t n = 0;

    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n - 2;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/vmesh-file-XXXXXX");
    assert_non_null(mkdtemp(dir));
    vmesh_file__tmp_hook = NULL;
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];

    (void)state;
    vmesh_file__tmp_hook = NULL;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void plain_write_sets_exact_mode(void **state)
{
    struct stat st;
    mode_t old = umask(077);

    (void)state;
    assert_int_equal(vmesh_file_write(P("key.pem"), SECRET, strlen(SECRET), 0600), VMESH_OK);
    assert_int_equal(lstat(P("key.pem"), &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_string_equal(slurp(P("key.pem")), SECRET);
    /* The mode is the one asked for, whatever the umask. */
    assert_int_equal(vmesh_file_write(P("cert.pem"), "cert", 4, 0644), VMESH_OK);
    assert_int_equal(stat(P("cert.pem"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    umask(old);
    /* Replacing keeps no temp file behind. */
    assert_int_equal(vmesh_file_write(P("key.pem"), "new", 3, 0600), VMESH_OK);
    assert_string_equal(slurp(P("key.pem")), "new");
    assert_int_equal(entries(), 2);
    /* Refused up front. */
    assert_int_equal(vmesh_file_write(P("x"), "x", 1, 04755), VMESH_ERR_ARG);
    assert_int_equal(vmesh_file_write(P(""), "x", 1, 0600), VMESH_ERR_ARG);
    assert_int_equal(vmesh_file_write(P("missing/x"), "x", 1, 0600), VMESH_ERR_IO);
    assert_int_equal(entries(), 2);
}

/* A symlink at the target is replaced, never followed: the file it points
 * to keeps its content, also when it points nowhere yet. */
static void symlink_at_target_is_not_followed(void **state)
{
    struct stat st;

    (void)state;
    put(P("attacker.txt"), "mine", 0666);
    assert_int_equal(symlink(P("attacker.txt"), P("key.pem")), 0);
    assert_int_equal(symlink(P("created-by-us?"), P("key2.pem")), 0);
    assert_int_equal(vmesh_file_write(P("key.pem"), SECRET, strlen(SECRET), 0600), VMESH_OK);
    assert_int_equal(vmesh_file_write(P("key2.pem"), SECRET, strlen(SECRET), 0600), VMESH_OK);
    assert_string_equal(slurp(P("attacker.txt")), "mine");
    assert_int_equal(lstat(P("created-by-us?"), &st), -1);
    assert_int_equal(lstat(P("key.pem"), &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_string_equal(slurp(P("key.pem")), SECRET);
    assert_int_equal(lstat(P("key2.pem"), &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(unlink(P("key2.pem")), 0);
    secret_only_in("key.pem");
    /* A directory at the target: an error, and no temp file left. */
    assert_int_equal(mkdir(P("dir.pem"), 0755), 0);
    assert_int_equal(vmesh_file_write(P("dir.pem"), SECRET, strlen(SECRET), 0600), VMESH_ERR_IO);
    secret_only_in("key.pem");
}

/* What the old code wrote into: PATH.tmp.PID (and the usual guesses). */
static void planted_guessable_names_stay_untouched(void **state)
{
    char name[128], got[256];
    pid_t pid = getpid();
    int held;

    (void)state;
    put(P("attacker.txt"), "", 0666);
    for (int i = 0; i < 64; i++) {
        snprintf(name, sizeof(name), "key.pem.tmp.%ld", (long)pid + i);
        if (i % 2)
            assert_int_equal(symlink(P("attacker.txt"), P(name)), 0);
        else
            put(P(name), "", 0666);
    }
    assert_int_equal(symlink(P("attacker.txt"), P("key.pem.tmp")), 0);
    assert_int_equal(symlink(P("attacker.txt"), P(".key.pem.tmp")), 0);
    assert_int_equal(symlink(P("attacker.txt"), P("key.pem~")), 0);
    /* The attacker holds its planted file open to read what lands in it. */
    snprintf(name, sizeof(name), "key.pem.tmp.%ld", (long)pid);
    held = open(P(name), O_RDONLY);
    assert_true(held >= 0);
    assert_int_equal(vmesh_file_write(P("key.pem"), SECRET, strlen(SECRET), 0600), VMESH_OK);
    assert_int_equal(read(held, got, sizeof(got)), 0);
    close(held);
    assert_string_equal(slurp(P("attacker.txt")), "");
    secret_only_in("key.pem");
    assert_int_equal(entries(), 1 + 64 + 3 + 1);
}

/* The names we draw are taken (a file, a symlink, a directory, a FIFO):
 * each is skipped untouched; when every try is taken, nothing is written. */
static int forced;
static void take_names(int stage, const char *d, char *name, size_t cap)
{
    static const char *const taken[] = {"t-file", "t-link", "t-dir", "t-fifo", "t-dangling"};

    (void)d;
    if (stage != VMESH_FILE_HOOK_NAME)
        return;
    if (forced < 0)
        snprintf(name, cap, "%s", taken[0]); /* always taken */
    else if (forced < 5)
        snprintf(name, cap, "%s", taken[forced++]);
}

static void drawn_names_already_taken(void **state)
{
    struct stat st;

    (void)state;
    put(P("attacker.txt"), "", 0666);
    put(P("t-file"), "", 0666);
    assert_int_equal(symlink(P("attacker.txt"), P("t-link")), 0);
    assert_int_equal(mkdir(P("t-dir"), 0777), 0);
    assert_int_equal(mkfifo(P("t-fifo"), 0666), 0);
    assert_int_equal(symlink(P("nowhere"), P("t-dangling")), 0);
    forced = 0;
    vmesh_file__tmp_hook = take_names;
    assert_int_equal(vmesh_file_write(P("key.pem"), SECRET, strlen(SECRET), 0600), VMESH_OK);
    assert_int_equal(forced, 5);
    assert_string_equal(slurp(P("attacker.txt")), "");
    assert_string_equal(slurp(P("t-file")), "");
    assert_int_equal(lstat(P("nowhere"), &st), -1);
    secret_only_in("key.pem");
    /* Always taken: an error that says so, and the target is not touched. */
    assert_int_equal(unlink(P("key.pem")), 0);
    forced = -1;
    assert_int_equal(vmesh_file_write(P("key.pem"), SECRET, strlen(SECRET), 0600), VMESH_ERR_IO);
    assert_non_null(strstr(vmesh_err_detail(), "names taken in a row"));
    assert_int_equal(lstat(P("key.pem"), &st), -1);
    secret_only_in(NULL);
}

/* Between the write and the rename, someone replaces our temp file with a
 * symlink to their own file, or with their own file: the write fails (it
 * never publishes their file as ours) and their file never gets the data. */
static int swap_mode;
static void swap_before_rename(int stage, const char *d, char *name, size_t cap)
{
    char full[512];

    (void)cap;
    if (stage != VMESH_FILE_HOOK_RENAME)
        return;
    snprintf(full, sizeof(full), "%s/%s", d, name);
    if (swap_mode == 0) {
        assert_int_equal(unlink(full), 0);
        assert_int_equal(symlink(P("attacker.txt"), full), 0);
    } else if (swap_mode == 1) {
        assert_int_equal(unlink(full), 0);
        put(full, "forged", 0666);
    } else {
        assert_int_equal(rename(full, P("stolen")), 0);
    }
}

static void temp_swapped_before_rename(void **state)
{
    struct stat st;

    (void)state;
    put(P("attacker.txt"), "", 0666);
    vmesh_file__tmp_hook = swap_before_rename;
    swap_mode = 0;
    assert_int_equal(vmesh_file_write(P("key.pem"), SECRET, strlen(SECRET), 0600), VMESH_ERR_IO);
    assert_non_null(strstr(vmesh_err_detail(), "was replaced by another file"));
    assert_string_equal(slurp(P("attacker.txt")), "");
    secret_only_in(NULL);
    swap_mode = 1;
    assert_int_equal(unlink(P("key.pem")), 0);
    assert_int_equal(vmesh_file_write(P("key.pem"), SECRET, strlen(SECRET), 0600), VMESH_ERR_IO);
    assert_non_null(strstr(vmesh_err_detail(), "was replaced by another file"));
    secret_only_in(NULL);
    /* Stolen (renamed away): the rename fails; the stolen inode is ours,
     * mode 0600 from its creation, so only we can read it. */
    swap_mode = 2;
    assert_int_equal(unlink(P("key.pem")), 0);
    assert_int_equal(vmesh_file_write(P("key.pem"), SECRET, strlen(SECRET), 0600), VMESH_ERR_IO);
    assert_int_equal(lstat(P("stolen"), &st), 0);
    assert_int_equal(st.st_mode & 0077, 0);
    assert_int_equal(st.st_uid, geteuid());
}

/* A real second user in a directory everyone can write (no sticky bit),
 * racing us: it reads every file it can open, and keeps replacing every
 * name it sees (temp files and the target) with symlinks to its own file.
 * Whatever interleaving happens, it never reads the secret and its file
 * never receives it; every write either lands our own file or fails. */
static void other_user_racing_in_shared_directory(void **state)
{
    /* Shared with the attacker: [0] leaked, [1] names swapped, [2] reads. */
    volatile unsigned long *seen;
    pid_t child;
    int ok = 0, failed = 0, status;

    (void)state;
    if (geteuid() != 0) {
        print_message("skipped: needs root to run the attacker as another user\n");
        return;
    }
    seen = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(seen != MAP_FAILED);
    assert_int_equal(chmod(dir, 0777), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        char evil[512];
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(3);
        snprintf(evil, sizeof(evil), "%s/evil", dir);
        put(evil, "", 0666);
        for (;;) {
            DIR *d = opendir(dir);
            struct dirent *e;
            if (d == NULL)
                _exit(4);
            while ((e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.' || strcmp(e->d_name, "evil") == 0)
                    continue;
                if (strstr(slurp(P(e->d_name)), "-secret-") != NULL)
                    seen[0]++;
                seen[2]++;
                if (unlink(P(e->d_name)) == 0 && symlink(evil, P(e->d_name)) == 0)
                    seen[1]++;
            }
            closedir(d);
            if (strstr(slurp(evil), "-secret-") != NULL)
                seen[0]++;
        }
    }
    for (int i = 0; i < 400; i++) {
        struct stat st;
        if (vmesh_file_write(P("key.pem"), SECRET, strlen(SECRET), 0600) == VMESH_OK) {
            ok++;
            /* Right after our write the name may already be theirs again,
             * but if it is a regular file of ours it is complete and 0600. */
            if (lstat(P("key.pem"), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0)
                assert_int_equal(st.st_mode & 07777, 0600);
        } else {
            failed++;
        }
    }
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    print_message("400 writes beside another user: %d landed, %d refused; the attacker swapped %lu names, "
                  "tried %lu reads, read the secret %lu times\n",
                  ok, failed, seen[1], seen[2], seen[0]);
    assert_int_equal(seen[0], 0);
    assert_true(seen[1] > 0); /* the attacker really acted */
    assert_null(strstr(slurp(P("evil")), "-secret-"));
    assert_int_equal(ok + failed, 400);
    munmap((void *)seen, 4096);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(plain_write_sets_exact_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(symlink_at_target_is_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(planted_guessable_names_stay_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(drawn_names_already_taken, setup, teardown),
        cmocka_unit_test_setup_teardown(temp_swapped_before_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(other_user_racing_in_shared_directory, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
