/* test_tmpdir: removes a flat temporary directory a test made (its files, then itself). */
#ifndef TEST_TMPDIR_H
#define TEST_TMPDIR_H

#include <dirent.h>
#include <stdio.h>
#include <unistd.h>

static inline void test_tmpdir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char p[512];
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

#endif
