/* statusd-keygen: writes a CURVE certificate pair for an agent or a collector. */
#include "sd_cert.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void s_usage(FILE *f)
{
    fprintf(f,
            "Usage: statusd-keygen [--dir DIR] [--region REGION] [--force] NAME\n"
            "\n"
            "Writes DIR/NAME.cert (public, mode 0644) and DIR/NAME.cert_secret (secret, mode\n"
            "0600): a new CURVE key pair in CZMQ's certificate format with metadata name=NAME\n"
            "and, when given, region=REGION. An agent's NAME is its agent id: the collector\n"
            "admits it only under that id (and only in REGION when the certificate names one).\n"
            "\n"
            "  -d, --dir DIR         where to write (default: the current directory)\n"
            "  -r, --region REGION   the only region this agent may claim\n"
            "  -f, --force           replace existing files\n"
            "  -h, --help            this text\n"
            "\n"
            "NAME and REGION: 1..%d of A-Z a-z 0-9 . _ - @ :\n"
            "Exit codes: 0 ok, 1 cannot write, 2 usage.\n",
            SD_CERT_MAX_NAME);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},   {"region", required_argument, NULL, 'r'},
        {"force", no_argument, NULL, 'f'},       {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *dir = ".", *region = NULL;
    bool force = false;
    int c;
    while ((c = getopt_long(argc, argv, "d:r:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'r': region = optarg; break;
        case 'f': force = true; break;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "statusd-keygen: exactly one NAME expected (see --help)\n");
        return 2;
    }
    const char *name = argv[optind];
    if (!sd_cert_name_valid(name, false) || (region && !sd_cert_name_valid(region, true))) {
        fprintf(stderr, "statusd-keygen: invalid %s: 1..%d of A-Z a-z 0-9 . _ - @ :\n",
                sd_cert_name_valid(name, false) ? "--region" : "NAME", SD_CERT_MAX_NAME);
        return 2;
    }
    zsys_init();
    zsys_set_logstream(NULL);
    char err[512];
    if (sd_cert_generate(dir, name, region, force, err, sizeof err) != 0) {
        fprintf(stderr, "statusd-keygen: %s\n", err);
        return 1;
    }
    printf("%s/%s.cert\n%s/%s.cert_secret\n", dir, name, dir, name);
    return 0;
}
